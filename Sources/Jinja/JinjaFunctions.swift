/// The supported global functions (`name(args)`); the raw value is the function's name.
enum JinjaFunction: String, CaseIterable {
    /// Ends the render with an error carrying the argument as its message.
    case raiseException = "raise_exception"
    /// Python's `range(stop)`, `range(start, stop)`, `range(start, stop, step)`, at most
    /// `JinjaLimits.listItems` integers.
    case range
    /// A mutable object whose attributes `{% set ns.name = ... %}` assigns, even inside loops; starts
    /// with the keyword arguments (and a dict argument's items).
    case namespace
    /// A dict of the keyword arguments.
    case dict
}

extension JinjaInterpreter {
    mutating func callFunction(_ name: String, _ a: [JinjaValue], _ kw: [String: JinjaValue]) throws -> JinjaValue {
        guard let function = JinjaFunction(rawValue: name) else {
            if lookup(name).isDefined {
                throw JinjaError.unsupported("chat template: calling '\(name)', which is not a function")
            }
            throw JinjaError.unsupported("chat template: unsupported function '\(name)()'; supported: "
                + JinjaFunction.allCases.map(\.rawValue).joined(separator: ", "))
        }
        switch function {
        case .raiseException:
            throw JinjaError.invalidInput("chat template raised an exception: \(try a.first.map { try text($0) } ?? "")")
        case .range:
            return try range(a)
        case .namespace:
            let ns = JinjaNamespace()
            if case .dict(let d)? = a.first { ns.dict = d }
            for k in kw.keys.sorted() { ns.dict[k] = kw[k] }
            return .namespace(ns)
        case .dict:
            var d = JinjaDict()
            for k in kw.keys.sorted() { d[k] = kw[k] }
            return .dict(d)
        }
    }

    private mutating func range(_ a: [JinjaValue]) throws -> JinjaValue {
        let ints = a.compactMap { if case .int(let i) = $0 { return i }; return nil }
        guard ints.count == a.count, (1...3).contains(ints.count) else {
            throw JinjaError.invalidInput("chat template: range() takes 1 to 3 integers")
        }
        let (lo, hi, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
        guard step != 0 else { throw JinjaError.invalidInput("chat template: range() step is zero") }
        // the count in unsigned arithmetic, where hi - lo of any two Ints fits
        let span = step > 0 ? (hi > lo ? UInt(bitPattern: hi &- lo) : 0) : (lo > hi ? UInt(bitPattern: lo &- hi) : 0)
        let count = span == 0 ? 0 : (span - 1) / step.magnitude + 1
        guard count <= UInt(JinjaLimits.listItems) else {
            throw budget.error("range() of \(count) items exceeds the limit of \(JinjaLimits.listItems) items")
        }
        try budget.list(Int(count))
        var items: [JinjaValue] = []
        items.reserveCapacity(Int(count))
        var x = lo
        for _ in 0..<Int(count) {
            items.append(.int(x))
            x &+= step   // wraps only past the last item, which is never used
        }
        return .array(items)
    }
}
