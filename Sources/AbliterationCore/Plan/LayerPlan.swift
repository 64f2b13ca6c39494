import Foundation
import TensorKit

extension UInt8 {
    fileprivate var isASCIIWhitespace: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}

/// Which refusal direction goes to which layers, with what scale.
///
/// Each entry says: take the direction measured in the residual at layer m (the input of block m,
/// Hugging Face `hidden_states[m]`, m ∈ [0, nLayers]; m = nLayers is the output of the last block) and
/// remove it, scaled by s, from the `o_proj`/`down_proj` of blocks a…b (0-based, ⊂ [0, nLayers − 1]).
/// m may be fractional, m = k + t with 0 < t < 1: the direction between residuals k and k + 1, from
/// means interpolated between the two (`Measurements.direction(at:method:target:)`).
///
/// CLI form: entries separated by commas, each `m:a-b` or `m:a` (one block), optionally `@s`, or
/// `@sa/sm` for separate scales of the attention output (`o_proj`, and the embedding when targeted) and
/// the MLP output (`down_proj`): `23:11-23,29:24-41@0.8`, `21:6-9@0.5/1.2`, `20.5:6-25` (a fractional
/// direction layer). A per-layer profile is a run of
/// one-block entries: `21:6@0.4/0.6,21:7@0.8/1.1,21:8@1.2/1.5`. `description` prints that form back. (`23:11-23,29:24-41` is the plan the
/// write-up ran on Gemma 3 12B, hand-picked: grimjim's `gemma3-12b-it.yml` in llm-abliteration edits
/// blocks 11–23 with the direction of residual 23 and blocks 24–41 with that of residual 29, scale 1.
/// No rule over the global-attention blocks 5, 11, …, 47 gives it, so the toolkit has no generator for it.) JSON (Codable):
/// `{"entries": [{"measurementLayer": 23, "firstTarget": 11, "lastTarget": 23, "scale": 0.8}]}`;
/// `LayerPlan(json:)` also accepts the bare array, and `scale` may be omitted (1).
/// Target spans may not overlap: each block is edited by at most one entry. A scale is a finite number
/// greater than 0: 1 removes the direction's component, less removes part of it, more overshoots.
public struct LayerPlan: Equatable, Sendable, Codable, CustomStringConvertible {
    public struct Entry: Equatable, Sendable, Codable, CustomStringConvertible {
        /// m: the residual the direction is measured in; fractional between two residuals.
        public var measurementLayer: Double
        /// a…b: the blocks edited.
        public var targets: ClosedRange<Int>
        /// s: the scale of the attention output edit (`o_proj`, and the embedding's when targeted).
        public var scale: Float
        /// The scale of the MLP output edit (`down_proj`); `scale` unless given apart.
        public var mlpScale: Float

        public init(measurementLayer: Double, targets: ClosedRange<Int>, scale: Float = 1, mlpScale: Float? = nil) {
            self.measurementLayer = measurementLayer
            self.targets = targets
            self.scale = scale
            self.mlpScale = mlpScale ?? scale
        }

        /// The entry with both scales multiplied by `factor`.
        public func scaled(by factor: Float) -> Entry {
            Entry(measurementLayer: measurementLayer, targets: targets, scale: scale * factor, mlpScale: mlpScale * factor)
        }

        /// `m:a-b[@s]` or `m:a-b@sa/sm`. (Not `targets.count`, which overflows for a span such as
        /// `0-9223372036854775807`.) Scales print as Swift prints a Float, which parses back to the same value.
        public var description: String {
            let span = targets.lowerBound == targets.upperBound ? "\(targets.lowerBound)" : "\(targets.lowerBound)-\(targets.upperBound)"
            let scales = mlpScale != scale ? "@\(scale)/\(mlpScale)" : scale == 1 ? "" : "@\(scale)"
            return "\(LayerPlan.layerText(measurementLayer)):\(span)" + scales
        }

        enum CodingKeys: String, CodingKey { case measurementLayer, firstTarget, lastTarget, scale, mlpScale }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let m = try c.decode(Double.self, forKey: .measurementLayer)
            let a = try c.decode(Int.self, forKey: .firstTarget)
            let b = try c.decode(Int.self, forKey: .lastTarget)
            let s = try c.decodeIfPresent(Float.self, forKey: .scale) ?? 1
            let sm = try c.decodeIfPresent(Float.self, forKey: .mlpScale)
            guard a <= b else {
                throw AbliterationError.invalidPlan("plan entry {measurementLayer: \(LayerPlan.layerText(m)), firstTarget: \(a), lastTarget: \(b)}: empty span \(a)-\(b)")
            }
            self.init(measurementLayer: m, targets: a...b, scale: s, mlpScale: sm)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(measurementLayer, forKey: .measurementLayer)
            try c.encode(targets.lowerBound, forKey: .firstTarget)
            try c.encode(targets.upperBound, forKey: .lastTarget)
            try c.encode(scale, forKey: .scale)
            if mlpScale != scale { try c.encode(mlpScale, forKey: .mlpScale) }
        }
    }

    public var entries: [Entry]

    /// A plan of these entries; throws when two target spans overlap or a scale is not finite.
    public init(entries: [Entry]) throws {
        self.entries = entries
        try checkEntries()
    }

    /// Parses the CLI form, e.g. `23:11-23,29:24-41@0.8`.
    public init(parsing text: String) throws {
        let pieces = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard !(pieces.count == 1 && pieces[0].isEmpty) else {
            throw AbliterationError.invalidPlan("layer plan is empty (expected e.g. 23:11-23,29:24-41@0.8)")
        }
        try self.init(entries: pieces.map(LayerPlan.parseEntry))
    }

    /// Parses JSON: `{"entries": [...]}` or a bare array of entries.
    public init(json: Data) throws {
        let decoder = JSONDecoder()
        let isArray = json.first { !$0.isASCIIWhitespace } == UInt8(ascii: "[")
        do {
            if isArray {
                try self.init(entries: try decoder.decode([Entry].self, from: json))
            } else {
                self = try decoder.decode(LayerPlan.self, from: json)
            }
        } catch let e as AbliterationError {
            throw e
        } catch {
            throw AbliterationError.invalidPlan("layer plan JSON: \(ErrorText.message(error))")
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(entries: try c.decode([Entry].self, forKey: .entries))
    }

    enum CodingKeys: String, CodingKey { case entries }

    /// The plan as pretty JSON.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// The plan with every entry's scales multiplied by `factor`.
    public func scaled(by factor: Float) throws -> LayerPlan {
        try LayerPlan(entries: entries.map { $0.scaled(by: factor) })
    }

    /// The plan halfway between this one and `other` in scale: each entry's attention and MLP scales the
    /// means of the two plans' (so `m:a-b@0.375` and `m:a-b@0.5` give `m:a-b@0.4375`). nil unless the two
    /// plans have the same entries (measurement layers and spans) in the same order, differing in scale only.
    public func scaleMidpoint(_ other: LayerPlan) throws -> LayerPlan? {
        guard entries.count == other.entries.count,
              zip(entries, other.entries).allSatisfy({ $0.measurementLayer == $1.measurementLayer && $0.targets == $1.targets })
        else { return nil }
        return try LayerPlan(entries: zip(entries, other.entries).map { a, b in
            Entry(measurementLayer: a.measurementLayer, targets: a.targets,
                  scale: (a.scale + b.scale) / 2, mlpScale: (a.mlpScale + b.mlpScale) / 2)
        })
    }

    /// One direction over one span of blocks (`m:a-b`, the grid's candidates), as opposed to a plan of
    /// several entries, such as the per-block directions of the plan search.
    public var isSingleSpan: Bool { entries.count == 1 }

    /// The CLI form.
    public var description: String { entries.map(\.description).joined(separator: ",") }

    /// Every targeted block, ascending.
    public var targetLayers: [Int] { entries.flatMap { Array($0.targets) }.sorted() }

    /// The measurement layers the plan needs directions for, ascending, without repeats (fractional ones as given).
    public var measurementLayers: [Double] { Array(Set(entries.map(\.measurementLayer))).sorted() }

    /// A measurement layer as the CLI form writes it: `21` when whole, else Swift's shortest form (`20.5`,
    /// `1e-05`, `9.2e+15`), which parses back to the same value.
    public static func layerText(_ m: Double) -> String {
        m == m.rounded() && abs(m) < 1e15 ? String(Int(m)) : "\(m)"
    }

    /// The entry that edits block `layer`, if any.
    public func entry(forTarget layer: Int) -> Entry? { entries.first { $0.targets.contains(layer) } }

    /// Checks the plan against a model of `layerCount` blocks: m ∈ [0, layerCount], targets ⊂ [0, layerCount − 1].
    public func validate(layerCount: Int) throws {
        for e in entries {
            guard e.measurementLayer >= 0, e.measurementLayer <= Double(layerCount) else {
                throw AbliterationError.layerOutOfRange(
                    "plan entry '\(e)': measurement layer \(LayerPlan.layerText(e.measurementLayer)) is outside 0...\(layerCount) (the model has \(layerCount) layers)")
            }
            guard e.targets.lowerBound >= 0, e.targets.upperBound < layerCount else {
                throw AbliterationError.layerOutOfRange(
                    "plan entry '\(e)': target layers \(e.targets.lowerBound)-\(e.targets.upperBound) are outside 0-\(layerCount - 1) (the model has \(layerCount) layers)")
            }
        }
    }

    // MARK: - Common plans

    /// One direction, measured at `measurementLayer`, applied to every block of the model.
    public static func allLayers(measurementLayer: Double, layerCount: Int, scale: Float = 1) throws -> LayerPlan {
        guard layerCount > 0 else { throw AbliterationError.invalidPlan("a model of \(layerCount) layers has nothing to edit") }
        let plan = try LayerPlan(entries: [Entry(measurementLayer: measurementLayer, targets: 0...(layerCount - 1), scale: scale)])
        try plan.validate(layerCount: layerCount)
        return plan
    }

    // MARK: - Parsing

    static func parseEntry(_ text: String) throws -> Entry {
        func fail(_ why: String) -> AbliterationError {
            .invalidPlan("plan entry \(UserText.quoted(text)): \(why) (expected MEASURE:FIRST-LAST[@SCALE or @ATTN/MLP], e.g. 23:11-23@0.8)")
        }
        guard !text.isEmpty else { throw fail("empty entry") }
        var body = Substring(text)
        var scale: Float = 1
        var mlpScale: Float?
        if let at = body.firstIndex(of: "@") {
            let text = body[body.index(after: at)...].trimmingCharacters(in: .whitespaces)
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw fail("scale \(UserText.quoted(text, limit: 40)) has more than one '/'") }
            var values: [Float] = []
            for (k, part) in parts.enumerated() {
                let s = part.trimmingCharacters(in: .whitespaces)
                let what = parts.count == 1 ? "scale" : k == 0 ? "attention scale" : "MLP scale"
                guard let v = Float(s), v.isFinite else { throw fail("\(what) \(UserText.quoted(s, limit: 40)) is not a finite number") }
                guard v > 0 else { throw fail("\(what) \(s) must be greater than 0") }
                values.append(v)
            }
            scale = values[0]
            if values.count == 2 { mlpScale = values[1] }
            body = body[..<at]
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw fail("needs exactly one ':'") }
        let layer = parts[0].trimmingCharacters(in: .whitespaces)
        // Decimal digits, sign, point and exponent only (as `layerText` prints): no "nan", "inf" or hex.
        let decimal = !layer.isEmpty && layer.allSatisfy { $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }
        guard decimal, let m = Double(layer), m.isFinite else {
            throw fail("measurement layer \(UserText.quoted(layer, limit: 40)) is not a number")
        }
        let span = parts[1].trimmingCharacters(in: .whitespaces)
        let bounds = span.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 1 || bounds.count == 2, let a = Int(bounds[0].trimmingCharacters(in: .whitespaces)),
            let b = Int(bounds[bounds.count - 1].trimmingCharacters(in: .whitespaces))
        else { throw fail("target span '\(span)' is not FIRST-LAST") }
        guard m >= 0, a >= 0 else { throw fail("layers are 0-based and not negative") }
        guard a <= b else { throw fail("empty span \(a)-\(b)") }
        return Entry(measurementLayer: m, targets: a...b, scale: scale, mlpScale: mlpScale)
    }

    func checkEntries() throws {
        guard !entries.isEmpty else { throw AbliterationError.invalidPlan("layer plan has no entries") }
        for e in entries {
            guard e.scale.isFinite else { throw AbliterationError.invalidPlan("plan entry '\(e)': scale is not finite") }
            guard e.scale > 0 else {
                throw AbliterationError.invalidPlan("plan entry '\(e)': scale \(e.scale) must be greater than 0")
            }
            guard e.mlpScale.isFinite else { throw AbliterationError.invalidPlan("plan entry '\(e)': MLP scale is not finite") }
            guard e.mlpScale > 0 else {
                throw AbliterationError.invalidPlan("plan entry '\(e)': MLP scale \(e.mlpScale) must be greater than 0")
            }
            guard e.measurementLayer.isFinite else {
                throw AbliterationError.invalidPlan("plan entry '\(e)': measurement layer is not finite")
            }
            guard e.measurementLayer >= 0, e.targets.lowerBound >= 0 else {
                throw AbliterationError.invalidPlan("plan entry '\(e)': layers are 0-based and not negative")
            }
        }
        for i in entries.indices {
            for j in entries.indices where j > i && entries[i].targets.overlaps(entries[j].targets) {
                throw AbliterationError.invalidPlan(
                    "plan entries '\(entries[i])' and '\(entries[j])' overlap: a layer can be edited by only one entry")
            }
        }
    }
}
