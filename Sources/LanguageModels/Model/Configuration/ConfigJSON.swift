import Foundation
import TensorKit

/// Reading and writing a Hugging Face config.json key by key: each value is decoded as the type
/// asked for, and a missing key, a wrong type or unparsable JSON is an error naming the key.
enum ConfigJSON {
    /// The pretty-printed, key-sorted JSON of `value` (what export writes).
    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(value)
    }

    /// The result of `body` on the object in `data`. Decoding errors become errors naming the key;
    /// the `ModelError`s `body` throws itself (a refused setting) pass through unchanged.
    static func read<T>(_ data: Data, source: String, _ body: @escaping (ConfigReader) throws -> T) throws -> T {
        let decoder = JSONDecoder()
        let box = ReadingBox(body: body)
        decoder.userInfo[ReadingBox.key] = box
        _ = try decode(source: source) { try decoder.decode(Reading.self, from: data) }
        return try box.result!.get() as! T
    }

    private static func decode<T>(source: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let DecodingError.keyNotFound(key, _) {
            throw ModelError.invalidInput("\(source): key '\(key.stringValue)' is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ModelError.invalidInput("\(source): key '\(path)' has the wrong type")
        } catch {
            throw ModelError.invalidInput("\(source): cannot parse: \(ErrorText.message(error))")
        }
    }

    /// Carries the reading closure into `Reading.init(from:)` and its result (or refusal) out.
    private final class ReadingBox: @unchecked Sendable {
        static let key = CodingUserInfoKey(rawValue: "abliterate.configReading")!
        let body: (ConfigReader) throws -> Any
        var result: Result<Any, Error>?
        init<T>(body: @escaping (ConfigReader) throws -> T) { self.body = { try body($0) } }
    }

    private struct Reading: Decodable {
        init(from decoder: Decoder) throws {
            let box = decoder.userInfo[ReadingBox.key] as! ReadingBox
            let reader = ConfigReader(container: try decoder.container(keyedBy: ConfigKey.self))
            do {
                box.result = .success(try box.body(reader))
            } catch let error as ModelError {
                box.result = .failure(error)
            }
        }
    }
}

/// Any key of a config.json object.
struct ConfigKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The keys of one config.json object, each decoded as the type the caller asks for.
struct ConfigReader {
    let container: KeyedDecodingContainer<ConfigKey>

    /// The value of `key` as a `T`, nil when the key is absent or null.
    func callAsFunction<T: Decodable>(_ key: String, as type: T.Type = T.self) throws -> T? {
        try container.decodeIfPresent(type, forKey: ConfigKey(key))
    }

    /// Whether the object has `key`, null or not (an absent key takes transformers' default, a null
    /// one may mean "none").
    func contains(_ key: String) -> Bool { container.contains(ConfigKey(key)) }
}

/// A config.json object built key by key; keys are written sorted, so the order of `set` calls
/// does not matter, and a key set again takes the later value.
struct ConfigWriter: Encodable {
    private var fields: [(key: String, value: any Encodable)] = []

    /// Writes `value` (an optional that is nil is left out, and removes an earlier value).
    mutating func set<T: Encodable>(_ key: String, _ value: T?) {
        fields.removeAll { $0.key == key }
        if let value { fields.append((key, value)) }
    }

    /// Writes `value`, or `null` when it is nil.
    mutating func set<T: Encodable>(_ key: String, orNull value: T?) {
        fields.removeAll { $0.key == key }
        fields.append((key, value.map { $0 as any Encodable } ?? JSONValue.null))
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: ConfigKey.self)
        for (key, value) in fields { try c.encode(value, forKey: ConfigKey(key)) }
    }
}
