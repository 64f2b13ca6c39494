import Foundation

extension CheckpointInspection {
    /// Pretty-printed JSON with sorted keys (the tensor table as inspected).
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// A human-readable report: a block of `label  value` lines, then (when present) the tensor table
    /// with aligned columns `name  type  shape  bytes`.
    public func textReport() -> String {
        let h = hyperParameters
        var rows: [(String, String)] = [
            ("path", path),
            ("format", format.rawValue + (formatVersion.map { " v\($0)" } ?? "")),
            ("architecture", architecture ?? "-"),
        ]
        if let modelName { rows.append(("name", modelName)) }
        func add(_ label: String, _ value: Int?) { if let value { rows.append((label, String(value))) } }
        func add(_ label: String, _ value: Double?) { if let value { rows.append((label, "\(value)")) } }
        add("layers", h.layers)
        add("hidden size", h.hiddenSize)
        add("FFN size", h.ffnSize)
        add("heads", h.heads)
        add("KV heads", h.kvHeads)
        add("head dim", h.headDim)
        add("vocab size", h.vocabSize)
        add("context length", h.contextLength)
        add("RoPE base", h.ropeBase)
        add("norm epsilon", h.normEpsilon)
        add("sliding window", h.slidingWindow)
        rows.append(("tokenizer", tokenizer ?? "-"))
        rows.append(("chat template", hasChatTemplate ? "yes" : "no"))
        rows.append(("tensors", String(tensorCount)))
        rows.append(("types", typeCounts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")))
        rows.append(("parameters", "\(parameterCount) (\(Self.humanCount(parameterCount)))"))
        rows.append(("tensor bytes", "\(tensorBytes) (\(Self.humanBytes(tensorBytes)))"))

        let labelWidth = rows.map(\.0.count).max() ?? 0
        var lines = rows.map { $0.0.padding(toLength: labelWidth, withPad: " ", startingAt: 0) + "  " + $0.1 }
        if !tensors.isEmpty {
            let table = [("name", "type", "shape", "bytes")] + tensors.map {
                ($0.name, $0.type, "[" + $0.shape.map(String.init).joined(separator: ", ") + "]", String($0.bytes))
            }
            let w0 = table.map(\.0.count).max()!, w1 = table.map(\.1.count).max()!, w2 = table.map(\.2.count).max()!
            let w3 = table.map(\.3.count).max()!
            lines.append("")
            for row in table {
                lines.append(row.0.padding(toLength: w0, withPad: " ", startingAt: 0) + "  "
                    + row.1.padding(toLength: w1, withPad: " ", startingAt: 0) + "  "
                    + row.2.padding(toLength: w2, withPad: " ", startingAt: 0) + "  "
                    + String(repeating: " ", count: w3 - row.3.count) + row.3)
            }
        }
        return lines.joined(separator: "\n")
    }

    static func humanCount(_ n: Int) -> String {
        let v = Double(n)
        if v >= 1e9 { return String(format: "%.2fB", v / 1e9) }
        if v >= 1e6 { return String(format: "%.1fM", v / 1e6) }
        if v >= 1e3 { return String(format: "%.1fK", v / 1e3) }
        return String(n)
    }

    static func humanBytes(_ n: Int) -> String {
        let v = Double(n)
        let kib = 1024.0, mib = kib * 1024, gib = mib * 1024
        if v >= gib { return String(format: "%.2f GiB", v / gib) }
        if v >= mib { return String(format: "%.1f MiB", v / mib) }
        if v >= kib { return String(format: "%.1f KiB", v / kib) }
        return "\(n) B"
    }
}
