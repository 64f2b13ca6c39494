import Foundation

/// A binary operator; the raw value is its Jinja spelling, which error messages quote.
enum BinaryOperator: String {
    /// Numbers add; strings and lists concatenate.
    case add = "+"
    case subtract = "-"
    /// Numbers multiply; a string times an integer repeats (none for a count below 1).
    case multiply = "*"
    /// Always a float, as in Python 3.
    case divide = "/"
    /// Integer division rounding toward negative infinity (Python's `//`); integers only here.
    case floorDivide = "//"
    /// Remainder with the divisor's sign (Python's `%`); integers only here.
    case modulo = "%"
    /// A negative integer exponent gives a float.
    case power = "**"
    /// Both sides as text, joined.
    case concat = "~"
    /// Python equality: `1 == 1.0 == true`, lists and dicts compared by value.
    case equal = "=="
    case notEqual = "!="
    /// Numbers by value, strings by code point; anything else is an error.
    case less = "<"
    case greater = ">"
    case lessOrEqual = "<="
    case greaterOrEqual = ">="
    /// A substring of a string, an item of a list or a key of a dict; nothing is in none or undefined.
    case isIn = "in"
    case notIn = "not in"
    /// Python's `and`/`or`: the deciding operand itself, the right one evaluated only when needed.
    case and
    case or

    /// For `< > <= >=`, whether `x op y` holds; nil for the other operators.
    func orders<T: Comparable>(_ x: T, _ y: T) -> Bool? {
        switch self {
        case .less: return x < y
        case .greater: return x > y
        case .lessOrEqual: return x <= y
        case .greaterOrEqual: return x >= y
        case .add, .subtract, .multiply, .divide, .floorDivide, .modulo, .power, .concat, .equal, .notEqual,
             .isIn, .notIn, .and, .or: return nil
        }
    }

    /// The comparisons, one precedence level (`in` and `not in` are words, parsed apart).
    static let comparisons: [BinaryOperator] = [.equal, .notEqual, .less, .greater, .lessOrEqual, .greaterOrEqual]

    /// The arithmetic precedence levels, loosest first: `+ -`, then `~`, then `* / // %`, then `**`.
    static let arithmeticLevels: [[BinaryOperator]] = [[.add, .subtract], [.concat], [.multiply, .divide, .floorDivide, .modulo], [.power]]
}

/// A prefix operator.
enum UnaryOperator {
    /// `not x`: the negated truth of `x`.
    case not
    /// `-x` of a number; an integer whose negation passes 64 bits is out of range.
    case negate
    /// `+x`: `x` unchanged.
    case plus
}

extension JinjaInterpreter {
    mutating func unary(_ op: UnaryOperator, _ v: JinjaValue) throws -> JinjaValue {
        switch op {
        case .not: return .bool(!v.isTruthy)
        case .negate:
            if case .int(let i) = v { return .int(try checked(0.subtractingReportingOverflow(i), "-\(i)")) }
            if case .double(let d) = v { return .double(-d) }
            throw JinjaError.invalidInput("chat template: cannot negate a \(v.typeName)")
        case .plus: return v
        }
    }

    /// `a op b` with both operands evaluated (`and`/`or` short-circuit in `eval` before coming here).
    mutating func binary(_ op: BinaryOperator, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        switch op {
        case .and: return a.isTruthy ? b : a
        case .or: return a.isTruthy ? a : b
        case .equal: return .bool(try equal(a, b))
        case .notEqual: return .bool(try !equal(a, b))
        case .concat:
            let x = try text(a), y = try text(b)
            try budget.fits(x.utf8.count + y.utf8.count)
            return .string(x + y)
        case .isIn: return .bool(try contains(b, a))
        case .notIn: return .bool(try !contains(b, a))
        case .less, .greater, .lessOrEqual, .greaterOrEqual: return try compare(op, a, b)
        case .add, .subtract, .multiply, .divide, .floorDivide, .modulo, .power: return try arithmetic(op, a, b)
        }
    }

    /// `item in container`.
    private mutating func contains(_ container: JinjaValue, _ item: JinjaValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let t) = item else { return false }
            try budget.text(s.utf8.count)
            return try t.isEmpty || !matches(of: t, in: s, upTo: 1).isEmpty
        case .array(let arr):
            for x in arr where try equal(x, item) { return true }
            return false
        case .dict(let d): return d[try text(item)] != nil
        case .undefined, .none: return false
        default: throw JinjaError.invalidInput("chat template: 'in' on a \(container.typeName)")
        }
    }

    /// An ordering comparison: strings by code point, integers exactly, other numbers (bools
    /// included) as floats.
    private mutating func compare(_ op: BinaryOperator, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        let result: Bool?
        switch (a, b) {
        case let (.string(x), .string(y)):
            try budget.text(min(x.utf8.count, y.utf8.count))
            result = op.orders(x, y)
        case let (.int(x), .int(y)): result = op.orders(x, y)
        default:
            guard let x = a.number, let y = b.number else { throw mismatch(op, a, b) }
            result = op.orders(x, y)
        }
        guard let result else { throw mismatch(op, a, b) }
        return .bool(result)
    }

    /// `+ - * / // % **`: string and list `+`, string repetition, Python's 64-bit integer arithmetic,
    /// and float arithmetic for other numbers (bools included; `//` and `%` are for integers only).
    private mutating func arithmetic(_ op: BinaryOperator, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        switch (a, b, op) {
        case let (.string(x), .string(y), .add):
            try budget.fits(x.utf8.count + y.utf8.count)
            return .string(x + y)
        case let (.array(x), .array(y), .add):
            try budget.list(x.count + y.count)
            return .array(x + y)
        case let (.string(x), .int(n), .multiply):
            // size checked before allocating: 'a' * 10**12 must not try to
            guard n > 0 else { return .string("") }
            let (size, overflow) = x.utf8.count.multipliedReportingOverflow(by: n)
            if overflow { throw budget.error("string repetition '* \(n)' exceeds the output-size limit of \(JinjaLimits.stringSize)") }
            try budget.fits(size)
            return .string(String(repeating: x, count: n))
        case let (.int(x), .int(y), _):
            return try intArithmetic(op, x, y)
        default: break
        }
        guard let x = a.number, let y = b.number else { throw mismatch(op, a, b) }
        switch op {
        case .add: return .double(x + y)
        case .subtract: return .double(x - y)
        case .multiply: return .double(x * y)
        case .divide:
            guard y != 0 else { throw divisionByZero(op) }
            return .double(x / y)
        case .power: return .double(pow(x, y))
        case .floorDivide, .modulo, .concat, .equal, .notEqual, .less, .greater, .lessOrEqual, .greaterOrEqual,
             .isIn, .notIn, .and, .or: throw mismatch(op, a, b)
        }
    }

    /// Python's integer arithmetic on 64 bits: `//` and `%` round toward negative infinity, `/` and
    /// `**` with a negative exponent give floats, and a result outside 64 bits is an error, never a
    /// wrapped number.
    private func intArithmetic(_ op: BinaryOperator, _ x: Int, _ y: Int) throws -> JinjaValue {
        let what = "\(x) \(op.rawValue) \(y)"
        switch op {
        case .add: return .int(try checked(x.addingReportingOverflow(y), what))
        case .subtract: return .int(try checked(x.subtractingReportingOverflow(y), what))
        case .multiply: return .int(try checked(x.multipliedReportingOverflow(by: y), what))
        case .divide:
            guard y != 0 else { throw divisionByZero(op) }
            return .double(Double(x) / Double(y))
        case .floorDivide:
            guard y != 0 else { throw divisionByZero(op) }
            let q = try checked(x.dividedReportingOverflow(by: y), what)   // only Int.min // -1 overflows
            // |y| >= 2 when there is a remainder, so q - 1 cannot overflow
            return .int(x % y != 0 && (x < 0) != (y < 0) ? q - 1 : q)
        case .modulo:
            guard y != 0 else { throw divisionByZero(op) }
            if y == -1 { return .int(0) }   // Int.min % -1 would trap; every x % -1 is 0
            let r = x % y
            // r and y have opposite signs when adjusted, so r + y cannot overflow
            return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case .power:
            if y < 0 {
                guard x != 0 else { throw divisionByZero(op) }
                return .double(pow(Double(x), Double(y)))
            }
            // square-and-multiply: a square overflows only when |x| >= 2 and a later bit needs it,
            // so the result would overflow too
            var result = 1, base = x, e = y
            while e > 0 {
                if e & 1 == 1 { result = try checked(result.multipliedReportingOverflow(by: base), what) }
                e >>= 1
                if e > 0 { base = try checked(base.multipliedReportingOverflow(by: base), what) }
            }
            return .int(result)
        case .concat, .equal, .notEqual, .less, .greater, .lessOrEqual, .greaterOrEqual, .isIn, .notIn, .and, .or:
            throw mismatch(op, .int(x), .int(y))
        }
    }

    /// A 64-bit result, or an "integer out of range" error naming `what`.
    func checked(_ r: (partialValue: Int, overflow: Bool), _ what: @autoclosure () -> String) throws -> Int {
        guard !r.overflow else { throw budget.outOfRange(what()) }
        return r.partialValue
    }

    private func divisionByZero(_ op: BinaryOperator) -> JinjaError { budget.error("division by zero in '\(op.rawValue)'") }

    private func mismatch(_ op: BinaryOperator, _ a: JinjaValue, _ b: JinjaValue) -> JinjaError {
        .invalidInput("chat template: operator '\(op.rawValue)' on \(a.typeName) and \(b.typeName)")
    }
}
