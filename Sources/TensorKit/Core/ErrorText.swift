import Foundation

/// One-line texts for errors that do not come with one: Foundation file errors (`NSCocoaErrorDomain`
/// codes with a path and a POSIX cause), `JSONSerialization` errors (a character offset, turned into a
/// line and column), and `DecodingError`s (a key path instead of Swift's debug dump).
/// For the modules of this package (`package` access), not part of TensorKit's public API.
package enum ErrorText {
    /// A one-line description of any error. This package's errors (`TensorKitError`, `AbliterationError`,
    /// `ModelError`, `JinjaError`) give their own text: they are `CustomStringConvertible`, and reach
    /// `String(describing:)` at the end.
    package static func message(_ error: Error) -> String {
        switch error {
        case let e as TensorKitError: return e.description
        case let e as DecodingError: return decoding(e)
        default: break
        }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if ns.domain == NSCocoaErrorDomain {
            let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
            let cause = posixReason(ns) ?? (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
            if let path { return "\(path): \(cause)" }
            return cause
        }
        return String(describing: error)
    }

    /// The POSIX reason behind a Foundation error, if it has one.
    static func posixReason(_ error: NSError) -> String? {
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if let posix = error.userInfo[NSUnderlyingErrorKey] as? POSIXError {
            return String(cString: strerror(posix.code.rawValue))
        }
        return nil
    }

    // MARK: - Decoding

    /// A key path in the form `entries[0].scale` (empty for the top level).
    package static func keyPath(_ path: [CodingKey]) -> String {
        var out = ""
        for key in path {
            if let i = key.intValue, key.stringValue == "Index \(i)" || key.stringValue == String(i) {
                out += "[\(i)]"
            } else {
                out += (out.isEmpty ? "" : ".") + UserText.sanitized(key.stringValue, limit: 80)
            }
        }
        return out
    }

    /// What went wrong in a `DecodingError`, naming the key path: `key 'entries[0].scale': expected
    /// Float, found a string`.
    package static func decoding(_ error: DecodingError) -> String {
        func at(_ c: DecodingError.Context, _ last: CodingKey? = nil) -> String {
            let path = keyPath(c.codingPath + (last.map { [$0] } ?? []))
            return path.isEmpty ? "the top level" : "key '\(path)'"
        }
        switch error {
        case let .keyNotFound(key, c):
            return "\(at(c, key)) is missing"
        case let .typeMismatch(type, c):
            return "\(at(c)) has the wrong type (expected \(typeName(type))\(found(c.debugDescription)))"
        case let .valueNotFound(type, c):
            return "\(at(c)) is null (expected \(typeName(type)))"
        case let .dataCorrupted(c):
            guard c.codingPath.isEmpty else { return "\(at(c)): \(UserText.sanitized(c.debugDescription))" }
            if let underlying = c.underlyingError as NSError?, let reason = underlying.userInfo[NSDebugDescriptionErrorKey] as? String {
                return "not valid JSON (\(UserText.sanitized(reason)))"
            }
            return "not valid JSON"
        @unknown default:
            return UserText.sanitized(String(describing: error))
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        let name = String(describing: type)
        switch name {
        case "Int", "Int64", "Int32", "UInt64": return "an integer"
        case "Float", "Double": return "a number"
        case "String": return "a string"
        case "Bool": return "true or false"
        default:
            if name.hasPrefix("Array<") { return "an array" }
            if name.hasPrefix("Dictionary<") { return "an object" }
            return name
        }
    }

    /// ", found a string" from Foundation's "Expected to decode Int but found a string instead."
    static func found(_ debugDescription: String) -> String {
        guard let r = debugDescription.range(of: "but found ") else { return "" }
        var rest = debugDescription[r.upperBound...]
        if rest.hasSuffix(" instead.") { rest = rest.dropLast(" instead.".count) }
        return ", found " + UserText.sanitized(String(rest), limit: 60)
    }

    // MARK: - JSON text

    /// Where and why `JSONSerialization` rejected `data`: "line 2, column 3: Invalid value", or the
    /// reason alone when Foundation gives no offset.
    package static func json(_ error: Error, in data: Data) -> String {
        let ns = error as NSError
        guard let debug = ns.userInfo[NSDebugDescriptionErrorKey] as? String else { return ns.localizedDescription }
        var reason = debug
        if let r = debug.range(of: " around character ") ?? debug.range(of: " around line ") {
            reason = String(debug[..<r.lowerBound])
        }
        if reason.hasSuffix(".") { reason.removeLast() }
        reason = UserText.sanitized(reason, limit: 120)
        guard let offset = characterOffset(debug) else { return reason }
        let (line, column) = lineAndColumn(of: offset, in: data)
        return "line \(line), column \(column): \(reason)"
    }

    /// N in "... around character N."
    static func characterOffset(_ debug: String) -> Int? {
        guard let r = debug.range(of: "around character ") else { return nil }
        return Int(debug[r.upperBound...].prefix { $0.isNumber })
    }

    /// 1-based line and column of byte `offset` in `data`.
    static func lineAndColumn(of offset: Int, in data: Data) -> (line: Int, column: Int) {
        var line = 1, lineStart = 0
        let end = min(max(offset, 0), data.count)
        var i = 0
        for byte in data.prefix(end) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        return (line, end - lineStart + 1)
    }
}
