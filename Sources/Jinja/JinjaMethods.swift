import Foundation

/// The supported Python `str` methods (`s.name(args)`); the raw value is the method's name.
enum JinjaStringMethod: String {
    /// Whitespace (or the given characters) stripped from both ends, the start or the end.
    case strip, lstrip, rstrip
    case upper, lower
    /// Each word's first letter upper case.
    case title
    /// First character upper case, the rest lower case.
    case capitalize
    /// Whether the string starts or ends with the argument (or any of a list of them).
    case startswith, endswith
    /// Every occurrence of the first argument replaced by the second.
    case replace
    /// The parts between occurrences of the argument, or the whitespace-separated words without one.
    case split
    /// The code-point offset of the argument's first occurrence, else -1 (0 for an empty argument).
    case find
}

/// The supported Python `dict` methods (`d.name(args)`); the raw value is the method's name.
enum JinjaDictMethod: String {
    /// `[key, value]` pairs, keys or values, in insertion order.
    case items, keys, values
    /// The value for the key, else the second argument, else none.
    case get
}

extension JinjaInterpreter {
    mutating func callMethod(_ v: JinjaValue, _ name: String, _ a: [JinjaValue], _ kw: [String: JinjaValue]) throws -> JinjaValue {
        switch v {
        case .string(let s):
            try budget.text(s.utf8.count)   // string methods scan the string
            if let method = JinjaStringMethod(rawValue: name) { return try call(method, on: s, a) }
        case .dict(let d):
            if let method = JinjaDictMethod(rawValue: name) { return try call(method, on: d, a) }
        default: break
        }
        throw JinjaError.unsupported("chat template: unsupported method '\(name)()' on a \(v.typeName)")
    }

    private mutating func call(_ method: JinjaStringMethod, on s: String, _ a: [JinjaValue]) throws -> JinjaValue {
        switch method {
        case .strip: return .string(strip(s, try a.first.map { try text($0) }, leading: true, trailing: true))
        case .lstrip: return .string(strip(s, try a.first.map { try text($0) }, leading: true, trailing: false))
        case .rstrip: return .string(strip(s, try a.first.map { try text($0) }, leading: false, trailing: true))
        case .upper: return .string(s.uppercased())
        case .lower: return .string(s.lowercased())
        case .title: return .string(s.capitalized)
        case .capitalize: return .string(capitalized(s))
        case .startswith: return .bool(try stringArgs(a, method.rawValue).contains { s.hasPrefix($0) })
        case .endswith: return .bool(try stringArgs(a, method.rawValue).contains { s.hasSuffix($0) })
        case .replace:
            guard a.count >= 2 else { throw JinjaError.invalidInput("chat template: replace() needs 2 arguments") }
            return .string(try replace(s, try text(a[0]), try text(a[1])))
        case .split:
            let parts: [Substring]
            if let sep = a.first, case .string(let t) = sep, !t.isEmpty {
                parts = try splitting(s, t)
            } else {
                parts = s.split(whereSeparator: { $0.isWhitespace })
            }
            try budget.list(parts.count)
            return .array(parts.map { .string(String($0)) })
        case .find:
            let needle = try a.first.map { try text($0) } ?? ""
            guard !needle.isEmpty else { return .int(0) }
            guard let at = try matches(of: needle, in: s, upTo: 1).first else { return .int(-1) }
            return .int(String(decoding: s.utf8.prefix(at), as: UTF8.self).unicodeScalars.count)
        }
    }

    private mutating func call(_ method: JinjaDictMethod, on d: JinjaDict, _ a: [JinjaValue]) throws -> JinjaValue {
        switch method {
        case .items:
            try budget.list(d.keys.count)
            return .array(d.keys.map { .array([.string($0), d[$0]!]) })
        case .keys:
            try budget.list(d.keys.count)
            return .array(d.keys.map { .string($0) })
        case .values:
            try budget.list(d.keys.count)
            return .array(d.keys.map { d[$0]! })
        case .get:
            return d[try a.first.map { try text($0) } ?? ""] ?? (a.count > 1 ? a[1] : .none)
        }
    }

    /// `s.split(separator)` as Python does it (`separator` not empty), at most `JinjaLimits.listItems` parts.
    private mutating func splitting(_ s: String, _ separator: String) throws -> [Substring] {
        let at = try matches(of: separator, in: s, upTo: JinjaLimits.listItems)
        if at.count >= JinjaLimits.listItems { try budget.list(at.count + 1) }
        let bytes = Array(s.utf8), width = separator.utf8.count
        var parts: [Substring] = []
        var start = 0
        for offset in at + [bytes.count] {
            parts.append(Substring(String(decoding: bytes[start..<offset], as: UTF8.self)))
            start = offset + width
        }
        return parts
    }

    /// `s.replace(old, new)` (an empty `old` leaves `s` as it is). When the result could pass
    /// `JinjaLimits.stringBytes`, the replacements are counted first, so an oversized one is never built.
    mutating func replace(_ s: String, _ old: String, _ new: String) throws -> String {
        guard !old.isEmpty else { return s }
        let size = s.utf8.count, growth = new.utf8.count - old.utf8.count
        // One scan, stopped at the first replacement too many when the result could pass the limit.
        let tooMany = growth > 0 && size + size / old.utf8.count * growth > JinjaLimits.stringBytes
            ? max(JinjaLimits.stringBytes - size, 0) / growth + 1 : Int.max
        let at = try matches(of: old, in: s, upTo: tooMany)
        if at.count >= tooMany {
            throw budget.error("replace() would grow the text past the output-size limit of \(JinjaLimits.stringSize)")
        }
        guard !at.isEmpty else { return s }
        let bytes = Array(s.utf8), width = old.utf8.count
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + at.count * max(growth, 0))
        var start = 0
        for offset in at {
            out.append(contentsOf: bytes[start..<offset])
            out.append(contentsOf: new.utf8)
            start = offset + width
        }
        out.append(contentsOf: bytes[start...])
        return String(decoding: out, as: UTF8.self)
    }

    /// The UTF-8 offsets of the non-overlapping occurrences of `needle` in `haystack` (`needle` not
    /// empty), left to right, at most `limit` of them; each candidate compared is charged to the text
    /// budget. Bytes are compared exactly, so this is Python's code-point matching (UTF-8 is
    /// self-synchronizing). Foundation's `range(of:)`, `contains` and `replacingOccurrences` are not used:
    /// they skip NUL characters when comparing, return ranges past the end of the string and trap.
    mutating func matches(of needle: String, in haystack: String, upTo limit: Int) throws -> [Int] {
        let needle = Array(needle.utf8)
        guard !needle.isEmpty else { return [] }
        var haystack = haystack   // withUTF8 needs it contiguous and mutable
        return try haystack.withUTF8 { h in
            guard let base = h.baseAddress else { return [] }
            var found: [Int] = [], offset = 0
            while found.count < limit, offset + needle.count <= h.count,
                  let p = memchr(base + offset, Int32(needle[0]), h.count - offset - needle.count + 1) {
                let at = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
                try budget.text(needle.count)
                if memcmp(base + at, needle, needle.count) == 0 { found.append(at); offset = at + needle.count } else { offset = at + 1 }
            }
            return found
        }
    }

    private mutating func stringArgs(_ a: [JinjaValue], _ name: String) throws -> [String] {
        switch a.first {
        case .string(let s)?: return [s]
        case .array(let xs)?: return try xs.map { try text($0) }
        default: throw JinjaError.invalidInput("chat template: \(name)() needs a string")
        }
    }

    /// Python's `str.strip` family: `chars` (else whitespace) dropped from the chosen ends.
    func strip(_ s: String, _ chars: String?, leading: Bool, trailing: Bool) -> String {
        let drop: (Character) -> Bool = chars.map { set in { set.contains($0) } } ?? { $0.isWhitespace }
        var sub = Substring(s)
        if leading { sub = sub.drop(while: drop) }
        if trailing { while let l = sub.last, drop(l) { sub = sub.dropLast() } }
        return String(sub)
    }

    /// Python's `str.capitalize`: the first character upper case, the rest lower case.
    func capitalized(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst().lowercased() }
}
