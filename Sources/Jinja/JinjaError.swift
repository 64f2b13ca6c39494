/// Every error the Jinja engine throws: a template it cannot parse or render. Each message starts
/// with "chat template" and names the construct (and the line, for syntax errors).
public enum JinjaError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A template that is malformed, or an operation on values that do not allow it.
    case invalidInput(String)
    /// A construct, filter, test, method or function outside the supported subset.
    case unsupported(String)

    public var description: String {
        switch self {
        case .invalidInput(let m), .unsupported(let m): return m
        }
    }
}
