import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// Prompts read from a user file, and what was dropped on the way.
public struct PromptLoadResult: Equatable, Sendable {
    /// Trimmed, non-empty, first occurrence of each prompt, in file order.
    public var prompts: [String]
    /// Records that were empty (or only whitespace, or JSON null).
    public var droppedEmpty: Int
    /// Records equal, after trimming, to an earlier prompt.
    public var droppedDuplicates: Int

    public init(prompts: [String], droppedEmpty: Int, droppedDuplicates: Int) {
        self.prompts = prompts
        self.droppedEmpty = droppedEmpty
        self.droppedDuplicates = droppedDuplicates
    }
}

/// Reads prompts from `.txt` (one per line), `.jsonl` (one JSON object or string per line), `.json` (an array
/// of strings or objects) and `.csv` (header row, RFC 4180 quoting). For objects and CSV the prompt is taken
/// from `field`, or else from the first of `defaultFields` the record has.
public enum PromptFile {
    /// Fields tried in order when no field is named.
    public static let defaultFields = ["prompt", "instruction", "goal", "text"]
    /// Larger files are refused rather than read into memory.
    public static let maxFileBytes = 256 << 20

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
        let text = try readText(path)
        let records: [String?]
        switch ext {
        case "txt": records = txtRecords(text)
        case "jsonl": records = try jsonlRecords(text, file: path, field: field)
        case "json": records = try jsonRecords(text, file: path, field: field)
        default: records = try csvRecords(text, file: path, field: field)
        }
        let result = deduplicate(records)
        guard !result.prompts.isEmpty else {
            throw AbliterationError.invalidInput(
                "\(path): no prompts left (\(result.droppedEmpty) empty, \(result.droppedDuplicates) duplicates dropped)")
        }
        return result
    }

    // MARK: reading

    static func readText(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw AbliterationError.invalidInput("\(path): prompt file not found")
        }
        guard !isDirectory.boolValue else {
            throw AbliterationError.invalidInput("\(path): is a directory, not a prompt file")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= maxFileBytes else {
            throw AbliterationError.invalidInput("\(path): prompt file is \(size) bytes, more than the \(maxFileBytes) allowed")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AbliterationError.invalidInput("\(path): prompt file cannot be read")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw AbliterationError.invalidInput("\(path): prompt file is not valid UTF-8")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return text
    }

    /// Physical lines, split at LF, CRLF or CR (`"\r\n"` is a single Character in Swift); a final line
    /// break does not start another line.
    static func lines(_ text: String) -> [Substring] {
        var out = text.split(omittingEmptySubsequences: false,
                             whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        if out.last?.isEmpty == true { out.removeLast() }
        return out
    }

    static func txtRecords(_ text: String) -> [String?] {
        lines(text).map { String($0) }
    }

    static func jsonlRecords(_ text: String, file: String, field: String?) throws -> [String?] {
        var records: [String?] = []
        for (i, line) in lines(text).enumerated() {
            let where_ = "\(file): line \(i + 1)"
            if line.trimmingCharacters(in: .whitespaces).isEmpty { records.append(nil); continue }
            let value: Any
            do {
                value = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
            } catch {
                // `json` says "line 1, column N" of the one-line text: keep the column.
                let detail = ErrorText.json(error, in: Data(line.utf8))
                let column = detail.hasPrefix("line 1, ") ? String(detail.dropFirst("line 1, ".count)) : detail
                throw AbliterationError.invalidInput("\(where_): malformed JSON line (\(column))")
            }
            records.append(try promptText(value, at: where_, field: field))
        }
        return records
    }

    static func jsonRecords(_ text: String, file: String, field: String?) throws -> [String?] {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            throw AbliterationError.invalidInput("\(file): malformed JSON: \(ErrorText.json(error, in: Data(text.utf8)))")
        }
        guard let array = value as? [Any] else {
            throw AbliterationError.invalidInput("\(file): expected a JSON array of strings or objects")
        }
        return try array.enumerated().map { i, element in
            try promptText(element, at: "\(file): element \(i)", field: field)
        }
    }

    static func csvRecords(_ text: String, file: String, field: String?) throws -> [String?] {
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
            // A blank line is one record with one empty field: an empty prompt, not a short row.
            if row.fields.count == 1 && row.fields[0].trimmingCharacters(in: .whitespaces).isEmpty { return nil }
            guard column < row.fields.count else {
                throw AbliterationError.invalidInput(
                    "\(file): line \(row.line): row has \(row.fields.count) fields, no value for \(UserText.quoted(header[column]))")
            }
            return row.fields[column]
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
    static func deduplicate(_ records: [String?]) -> PromptLoadResult {
        var seen = Set<String>()
        var result = PromptLoadResult(prompts: [], droppedEmpty: 0, droppedDuplicates: 0)
        for record in records {
            let prompt = (record ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            if prompt.isEmpty { result.droppedEmpty += 1; continue }
            if !seen.insert(prompt).inserted { result.droppedDuplicates += 1; continue }
            result.prompts.append(prompt)
        }
        return result
    }
}
