/// The supported tests (`x is name`, `x is not name(arg)`, and the test names `selectattr` takes);
/// the raw value is the test's name. A test outside this list is a `JinjaError.unsupported`.
enum JinjaTest: String, CaseIterable {
    /// Whether the value is defined (`none` is defined).
    case defined, undefined
    /// Whether the value is of that kind: `number` is an int or float (not a bool), `mapping` a dict
    /// or namespace, `sequence` and `iterable` a list, string or dict.
    case none, string, number, integer, float, boolean, mapping, sequence, iterable
    /// Whether the value is the bool `true` or `false` (not merely truthy or falsy).
    case isTrue = "true", isFalse = "false"
    /// Whether an integer is odd, even, or divisible by the argument; false for anything else.
    case odd, even, divisibleby
    /// Python equality with the argument (false without one); `sameas` is equality here too.
    case equalto, eq, equalSign = "==", sameas
    /// Python inequality with the argument (true without one).
    case ne, notEqualSign = "!="
    /// Whether the value is in the argument, when that is a container (false otherwise).
    case isIn = "in"
    /// The comparison with the argument (false without one).
    case lt, gt, le, ge

    /// The test called `name`, else the error naming it, with the line when known at parse time.
    static func named(_ name: String, line: Int? = nil) throws -> JinjaTest {
        guard let test = JinjaTest(rawValue: name) else { throw unsupported(name, line: line) }
        return test
    }

    /// The error for a test this engine does not have, listing those it has.
    static func unsupported(_ name: String, line: Int? = nil) -> JinjaError {
        .unsupported("chat template: unsupported test 'is \(name)'\(line.map { " (line \($0))" } ?? ""); supported: "
            + allCases.map(\.rawValue).joined(separator: ", "))
    }
}

extension JinjaInterpreter {
    mutating func applyTest(_ test: JinjaTest, _ v: JinjaValue, _ a: [JinjaValue]) throws -> Bool {
        switch test {
        case .defined: return v.isDefined
        case .undefined: return !v.isDefined
        case .none: if case .none = v { return true }; return false
        case .string: if case .string = v { return true }; return false
        case .number: return v.number != nil && { if case .bool = v { return false }; return true }()
        case .integer: if case .int = v { return true }; return false
        case .float: if case .double = v { return true }; return false
        case .boolean: if case .bool = v { return true }; return false
        case .isTrue: if case .bool(true) = v { return true }; return false
        case .isFalse: if case .bool(false) = v { return true }; return false
        case .mapping: if case .dict = v { return true }; if case .namespace = v { return true }; return false
        case .sequence, .iterable:
            switch v { case .array, .string, .dict: return true; default: return false }
        case .odd: if case .int(let i) = v { return i % 2 != 0 }; return false
        case .even: if case .int(let i) = v { return i % 2 == 0 }; return false
        case .divisibleby:
            // -1 divides everything, and Int.min % -1 would trap
            if case .int(let i) = v, case .int(let d)? = a.first, d != 0 { return d == -1 || i % d == 0 }; return false
        case .equalto, .eq, .equalSign, .sameas: return try a.first.map { try equal(v, $0) } ?? false
        case .ne, .notEqualSign: return try !(a.first.map { try equal(v, $0) } ?? false)
        case .isIn:
            switch a.first {
            case let b? where b.isContainer: return try binary(.isIn, v, b).isTruthy
            default: return false
            }
        case .lt: return try compared(.less, v, a)
        case .gt: return try compared(.greater, v, a)
        case .le: return try compared(.lessOrEqual, v, a)
        case .ge: return try compared(.greaterOrEqual, v, a)
        }
    }

    /// `v op a[0]`, false without an argument.
    private mutating func compared(_ op: BinaryOperator, _ v: JinjaValue, _ a: [JinjaValue]) throws -> Bool {
        guard let b = a.first else { return false }
        return try binary(op, v, b).isTruthy
    }
}
