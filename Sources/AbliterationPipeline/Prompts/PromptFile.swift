import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// Prompts read from a user file, and what was dropped on the way.
public struct PromptLoadResult: Equatable, Sendable {
    /// Trimmed, non-empty, first occurrence of each prompt, in file order.
    public var prompts: [String]
    /// Where each prompt is, for error messages: `"FILE: line N"` (`"FILE: element N"` in a JSON array).
    public var origins: [String]
    /// Records that were empty (or only whitespace, or JSON null).
    public var droppedEmpty: Int
    /// Records equal, after trimming, to an earlier prompt.
    public var droppedDuplicates: Int

    public init(prompts: [String], origins: [String]? = nil, droppedEmpty: Int, droppedDuplicates: Int) {
        self.prompts = prompts
        self.origins = origins ?? prompts.indices.map { "prompt \($0 + 1)" }
        self.droppedEmpty = droppedEmpty
        self.droppedDuplicates = droppedDuplicates
    }

    /// Equal prompts and counts; where they came from is not compared.
    public static func == (a: PromptLoadResult, b: PromptLoadResult) -> Bool {
        a.prompts == b.prompts && a.droppedEmpty == b.droppedEmpty && a.droppedDuplicates == b.droppedDuplicates
    }
}

/// One record of a prompt file: its prompt (nil for JSON null) and where it is.
struct PromptRecord {
    var text: String?
    var origin: String
}

/// Reads prompts from `.txt` (one per line), `.jsonl` (one JSON object or string per line), `.json` (an array
/// of strings or objects) and `.csv` (header row, RFC 4180 quoting). For objects and CSV the prompt is taken
/// from `field`, or else from the first of `defaultFields` the record has.
public enum PromptFile {
    /// Fields tried in order when no field is named.
    public static let defaultFields = ["prompt", "instruction", "goal", "text"]
    /// Larger files are refused rather than read into memory.
    public static let maxFileBytes = 64 << 20
    /// The longest prompt accepted, in UTF-8 bytes; checked before anything is tokenized.
    public static let maxPromptBytes = 64 << 10
    /// The longest line of a `.jsonl` file (a prompt plus the rest of its JSON object).
    public static let maxJSONLineBytes = 1 << 20
    /// The most records (lines, array elements, CSV rows) a file may hold.
    public static let maxRecords = 1_000_000

    public static func load(path: String, field: String? = nil) throws -> PromptLoadResult {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw AbliterationError.invalidInput("\(path) is a directory, not a prompt file")
        }
        let ext = (path as NSString).pathExtension.lowercased()
        guard ["txt", "jsonl", "json", "csv"].contains(ext) else {
            throw AbliterationError.invalidInput(
                "\(path): unknown prompt file extension \(UserText.quoted("." + ext, limit: 40)) (expected .txt, .jsonl, .json or .csv)")
        }
        return try load(bytes: try readBytes(path), path: path, field: field)
    }

    /// `load(path:field:)` on bytes already read; the format is chosen by `path`'s extension (txt, jsonl,
    /// json or csv), and `path` names the file in messages. The fuzz target `prompt_file` calls this.
    static func load(bytes: [UInt8], path: String, field: String? = nil) throws -> PromptLoadResult {
        let ext = (path as NSString).pathExtension.lowercased()
        // Line count and line length are checked on the bytes, before a String is built and split.
        let maxLineBytes = ext == "txt" ? maxPromptBytes : ext == "jsonl" ? maxJSONLineBytes : nil
        try checkLines(bytes, file: path, maxLineBytes: maxLineBytes)
        let text = try decodeText(bytes, file: path)
        let records: [PromptRecord]
        switch ext {
        case "txt": records = txtRecords(text, file: path)
        case "jsonl": records = try jsonlRecords(text, file: path, field: field)
        case "json": records = try jsonRecords(text, file: path, field: field)
        default: records = try csvRecords(text, file: path, field: field)
        }
        for record in records {
            if let prompt = record.text, prompt.utf8.count > maxPromptBytes {
                throw AbliterationError.invalidInput(
                    "\(record.origin): prompt is \(prompt.utf8.count) bytes, more than the \(maxPromptBytes) allowed")
            }
        }
        let result = deduplicate(records)
        guard !result.prompts.isEmpty else {
            throw AbliterationError.invalidInput(
                "\(path): no prompts left (\(result.droppedEmpty) empty, \(result.droppedDuplicates) duplicates dropped)")
        }
        return result
    }

    // MARK: reading

    /// The file's bytes (`load(path:)` has refused a directory already; `InputFile` refuses any other
    /// non-regular file and a file over `maxFileBytes`).
    static func readBytes(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw AbliterationError.invalidInput("\(path): prompt file not found")
        }
        do { return try InputFile.contents(path, maxBytes: maxFileBytes) } catch {
            throw AbliterationError.invalidInput("prompt file \(error)")
        }
    }

    static func decodeText(_ bytes: [UInt8], file path: String) throws -> String {
        guard var text = String(validating: bytes, as: UTF8.self) else {
            throw AbliterationError.invalidInput("\(path): prompt file is not valid UTF-8")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return text
    }

    /// Refuses a file of more than `maxRecords` lines, or with a line longer than `maxLineBytes`, before
    /// it is decoded and split into records. Lines end at LF, CRLF or CR, as in `lines(_:)`.
    static func checkLines(_ bytes: [UInt8], file: String, maxLineBytes: Int?) throws {
        let maxLine = maxLineBytes ?? Int.max
        var lines = 0
        var lineStart = 0
        try bytes.withUnsafeBufferPointer { b in
            for i in 0..<b.count where b[i] == 0x0A || b[i] == 0x0D {
                if b[i] == 0x0A && i > 0 && b[i - 1] == 0x0D { lineStart = i + 1; continue }  // the LF of a CRLF
                lines += 1
                guard i - lineStart <= maxLine else {
                    throw AbliterationError.invalidInput(
                        "\(file): line \(lines): line is \(i - lineStart) bytes, more than the \(maxLine) allowed")
                }
                lineStart = i + 1
            }
        }
        if bytes.count > lineStart { lines += 1 }
        guard bytes.count - lineStart <= maxLine else {
            throw AbliterationError.invalidInput(
                "\(file): line \(lines): line is \(bytes.count - lineStart) bytes, more than the \(maxLine) allowed")
        }
        guard lines <= maxRecords else {
            throw AbliterationError.invalidInput("\(file): \(lines) lines, more than the \(maxRecords) allowed")
        }
    }

    /// Physical lines, split at LF, CRLF or CR (`"\r\n"` is a single Character in Swift); a final line
    /// break does not start another line.
    static func lines(_ text: String) -> [Substring] {
        var out = text.split(omittingEmptySubsequences: false,
                             whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        if out.last?.isEmpty == true { out.removeLast() }
        return out
    }

    static func txtRecords(_ text: String, file: String) -> [PromptRecord] {
        lines(text).enumerated().map { i, line in PromptRecord(text: String(line), origin: "\(file): line \(i + 1)") }
    }

    static func jsonlRecords(_ text: String, file: String, field: String?) throws -> [PromptRecord] {
        var records: [PromptRecord] = []
        for (i, line) in lines(text).enumerated() {
            let where_ = "\(file): line \(i + 1)"
            if line.trimmingCharacters(in: .whitespaces).isEmpty { records.append(PromptRecord(text: nil, origin: where_)); continue }
            let value: Any
            do {
                value = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
            } catch {
                // `json` says "line 1, column N" of the one-line text: keep the column.
                let detail = ErrorText.json(error, in: Data(line.utf8))
                let column = detail.hasPrefix("line 1, ") ? String(detail.dropFirst("line 1, ".count)) : detail
                throw AbliterationError.invalidInput("\(where_): malformed JSON line (\(column))")
            }
            records.append(PromptRecord(text: try promptText(value, at: where_, field: field), origin: where_))
        }
        return records
    }

    static func jsonRecords(_ text: String, file: String, field: String?) throws -> [PromptRecord] {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw AbliterationError.invalidInput("\(file): malformed JSON: \(ErrorText.json(error, in: Data(text.utf8)))")
        }
        guard let array = value as? [Any] else {
            throw AbliterationError.invalidInput("\(file): expected a JSON array of strings or objects")
        }
        guard array.count <= maxRecords else {
            throw AbliterationError.invalidInput("\(file): \(array.count) elements, more than the \(maxRecords) allowed")
        }
        return try array.enumerated().map { i, element in
            let origin = "\(file): element \(i)"
            return PromptRecord(text: try promptText(element, at: origin, field: field), origin: origin)
        }
    }

    static func csvRecords(_ text: String, file: String, field: String?) throws -> [PromptRecord] {
        var rows = try CSVReader.records(text, file: file)
        guard !rows.isEmpty else { throw AbliterationError.invalidInput("\(file): CSV file has no header row") }
        let header = rows.removeFirst().fields.map { $0.trimmingCharacters(in: .whitespaces) }
        let column: Int
        if let field {
            guard let c = header.firstIndex(of: field) else {
                throw AbliterationError.invalidInput(
                    "\(file): CSV header has no field \(UserText.quoted(field)) (columns: \(columnList(header)))")
            }
            column = c
        } else {
            guard let c = defaultFields.lazy.compactMap({ header.firstIndex(of: $0) }).first else {
                throw AbliterationError.invalidInput(
                    "\(file): CSV header has none of the fields \(defaultFields.joined(separator: ", ")) "
                    + "(columns: \(columnList(header))); name one with the field option")
            }
            column = c
        }
        return try rows.map { row in
            let origin = "\(file): line \(row.line)"
            // A blank line is one record with one empty field: an empty prompt, not a short row.
            if row.fields.count == 1 && row.fields[0].trimmingCharacters(in: .whitespaces).isEmpty {
                return PromptRecord(text: nil, origin: origin)
            }
            guard column < row.fields.count else {
                throw AbliterationError.invalidInput(
                    "\(origin): row has \(row.fields.count) fields, no value for \(UserText.quoted(header[column]))")
            }
            return PromptRecord(text: row.fields[column], origin: origin)
        }
    }

    /// A CSV header as quoted in messages: escaped and cut short (a header can be a whole file).
    static func columnList(_ header: [String]) -> String {
        UserText.sanitized(header.joined(separator: ", "), limit: UserText.defaultLimit)
    }

    /// The prompt in one JSON value: a string, or the chosen field of an object. `nil` for JSON null.
    static func promptText(_ value: Any, at place: String, field: String?) throws -> String? {
        if let s = value as? String { return s }
        if value is NSNull { return nil }
        guard let object = value as? [String: Any] else {
            throw AbliterationError.invalidInput("\(place): expected a string or an object, found \(type(of: value))")
        }
        let key: String
        if let field {
            guard object[field] != nil else {
                throw AbliterationError.invalidInput("\(place): object has no field \(UserText.quoted(field))")
            }
            key = field
        } else {
            guard let k = defaultFields.first(where: { object[$0] != nil }) else {
                throw AbliterationError.invalidInput(
                    "\(place): object has none of the fields \(defaultFields.joined(separator: ", ")); name one with the field option")
            }
            key = k
        }
        if object[key] is NSNull { return nil }
        guard let s = object[key] as? String else {
            throw AbliterationError.invalidInput("\(place): field \(UserText.quoted(key)) is not a string")
        }
        return s
    }

    /// Trims each record, drops empty ones and repeats, keeps the first occurrence's position.
    static func deduplicate(_ records: [PromptRecord]) -> PromptLoadResult {
        var seen = Set<String>()
        var result = PromptLoadResult(prompts: [], origins: [], droppedEmpty: 0, droppedDuplicates: 0)
        for record in records {
            let prompt = (record.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if prompt.isEmpty { result.droppedEmpty += 1; continue }
            if !seen.insert(prompt).inserted { result.droppedDuplicates += 1; continue }
            result.prompts.append(prompt)
            result.origins.append(record.origin)
        }
        return result
    }
}
