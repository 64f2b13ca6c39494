import AbliterationCore

/// A CSV record and the 1-based line of the file on which it starts.
struct CSVRecord: Equatable {
    var fields: [String]
    var line: Int
}

/// RFC 4180 CSV: records end at CRLF or LF outside quotes; fields are separated by commas; a field in
/// double quotes may contain commas, line breaks and `""` (one literal quote).
enum CSVReader {
    /// Splits `text` into records. A quote that opens a field and is never closed is an error naming `file`
    /// and the line where the field began; a quote inside an unquoted field is kept as text.
    static func records(_ text: String, file: String) throws -> [CSVRecord] {
        var records: [CSVRecord] = []
        var fields: [String] = []
        var field = ""
        var line = 1
        var recordLine = 1
        var quoted = false        // inside a quoted field
        var quoteOpenedLine = 0
        var afterQuote = false    // just closed a quoted field: only , or newline may follow (lenient: text appended)
        var chars = Array(text.unicodeScalars)[...]
        // A record of one empty field from a blank line is kept; callers decide what an empty prompt means.
        func endRecord() {
            fields.append(field)
            records.append(CSVRecord(fields: fields, line: recordLine))
            fields = []
            field = ""
        }
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { chars.removeFirst(); field.unicodeScalars.append("\"") }
                    else { quoted = false; afterQuote = true }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case ",":
                fields.append(field); field = ""; afterQuote = false
            case "\r":
                if chars.first == "\n" { chars.removeFirst() }
                endRecord(); line += 1; recordLine = line; afterQuote = false
            case "\n":
                endRecord(); line += 1; recordLine = line; afterQuote = false
            case "\"" where field.isEmpty && !afterQuote:
                quoted = true; quoteOpenedLine = line
            default:
                field.unicodeScalars.append(c)
            }
        }
        if quoted {
            throw AbliterationError.invalidInput("\(file): line \(quoteOpenedLine): quoted CSV field is never closed")
        }
        // The last record, unless the text ended with a line break.
        if !field.isEmpty || !fields.isEmpty || afterQuote { endRecord() }
        return records
    }
}
