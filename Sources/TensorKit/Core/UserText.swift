/// Text taken from a file or the command line, made safe to quote in a one-line message.
///
/// Readers quote what they found (a GGUF key name, a tensor name, a CSV header) so a user can find the
/// broken input; that text can hold NUL, escape sequences or line breaks, and can be megabytes long.
/// `sanitized` escapes every control, format, separator and unassigned character (`\n`, `\t`, `\x1B`,
/// `\u{202E}`) and cuts the result at `limit` characters with an ellipsis, so a message stays on one line
/// and bounded whatever the file holds.
public enum UserText {
    /// The default length for quoted user data, in characters of the escaped result.
    public static let defaultLimit = 200

    /// `text` with non-printable characters escaped, at most `limit` characters long (plus "…" when cut).
    public static func sanitized(_ text: String, limit: Int = defaultLimit) -> String {
        var out = ""
        var length = 0
        for scalar in text.unicodeScalars {
            let piece = escape(scalar)
            let n = piece.unicodeScalars.count
            if length + n > limit {
                out += "…"
                return out
            }
            out += piece
            length += n
        }
        return out
    }

    /// `sanitized(text)` in single quotes.
    public static func quoted(_ text: String, limit: Int = defaultLimit) -> String {
        "'" + sanitized(text, limit: limit) + "'"
    }

    /// Whether `scalar` is printed as it is.
    public static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value >= 0x20 && scalar.value < 0x7F { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
            return false
        default:
            return true
        }
    }

    static func escape(_ scalar: Unicode.Scalar) -> String {
        if isPrintable(scalar) { return String(scalar) }
        switch scalar {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default:
            let hex = String(scalar.value, radix: 16, uppercase: true)
            if scalar.value < 0x100 { return "\\x" + String(repeating: "0", count: 2 - hex.count) + hex }
            return "\\u{" + hex + "}"
        }
    }
}
