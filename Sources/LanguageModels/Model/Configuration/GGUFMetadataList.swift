import TensorKit

/// GGUF metadata entries being assembled for a new file, in insertion order.
///
/// Setting a key a second time replaces its value where it first stood: gguf-py's writer does the same,
/// and llama.cpp's converter relies on it (Gemma 3's parameters set `context_length`, `head_count` … again
/// after the common ones).
package struct GGUFMetadataList {
    package private(set) var entries: [(key: String, value: GGUFValue)] = []
    private var position: [String: Int] = [:]

    package init() {}

    package mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = position[key] {
            entries[i].value = value
        } else {
            position[key] = entries.count
            entries.append((key, value))
        }
    }

    package mutating func set(_ key: String, uint32 value: Int) { set(key, .uint32(UInt32(clamping: value))) }
    package mutating func set(_ key: String, float32 value: Double) { set(key, .float32(Float(value))) }

    package mutating func append(contentsOf other: GGUFMetadataList) {
        for (key, value) in other.entries { set(key, value) }
    }

    package subscript(key: String) -> GGUFValue? { position[key].map { entries[$0].value } }

    package var keys: [String] { entries.map(\.key) }
}
