import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// The weights abliteration edits: the matrices that write into the residual stream (the method's
/// edit), and, as an option, those that read from it through a block's input norms.
public enum EditTarget: String, CaseIterable, Sendable, Codable {
    /// Attention output projection of each target block, `[hidden, heads·head_dim]`.
    case attentionOutput = "o_proj"
    /// MLP down projection of each target block, `[hidden, intermediate]`.
    case mlpDown = "down_proj"
    /// The token embedding `[vocab, hidden]` (and so a tied LM head).
    case embedding = "embed"
    /// Attention query projection, `[heads·head_dim, hidden]`: reads the residual through `input_layernorm`.
    case attentionQuery = "q_proj"
    /// Attention key projection, `[kv_heads·head_dim, hidden]`.
    case attentionKey = "k_proj"
    /// Attention value projection, `[kv_heads·head_dim, hidden]`.
    case attentionValue = "v_proj"
    /// MLP gate projection, `[intermediate, hidden]`: reads the residual through the norm before the MLP.
    case mlpGate = "gate_proj"
    /// MLP up projection, `[intermediate, hidden]`.
    case mlpUp = "up_proj"

    /// The five matrices that read the residual stream (`inputs` in a target list).
    public static let readers: [EditTarget] = [.attentionQuery, .attentionKey, .attentionValue, .mlpGate, .mlpUp]

    /// Whether the target reads the residual stream (through a block's input norm) rather than writing it.
    public var readsResidual: Bool { Self.readers.contains(self) }

    /// Whether the target belongs to the MLP (it takes a plan entry's MLP scale).
    public var isFeedForward: Bool { self == .mlpDown || self == .mlpGate || self == .mlpUp }

    /// Hugging Face name of the tensor for block `layer` (ignored for the embedding).
    public func tensorName(layer: Int) -> String {
        switch self {
        case .attentionOutput: return "model.layers.\(layer).self_attn.o_proj.weight"
        case .mlpDown: return "model.layers.\(layer).mlp.down_proj.weight"
        case .embedding: return "model.embed_tokens.weight"
        case .attentionQuery: return "model.layers.\(layer).self_attn.q_proj.weight"
        case .attentionKey: return "model.layers.\(layer).self_attn.k_proj.weight"
        case .attentionValue: return "model.layers.\(layer).self_attn.v_proj.weight"
        case .mlpGate: return "model.layers.\(layer).mlp.gate_proj.weight"
        case .mlpUp: return "model.layers.\(layer).mlp.up_proj.weight"
        }
    }
}

/// How a plan is turned into weight edits.
public struct AblationOptions: Sendable, Codable, Equatable {
    public var method: RefusalDirection.Method
    /// What the edit keeps of each writing weight's norms: nothing, every written vector's (grimjim's
    /// refinement) or every row's (heretic's row normalization); `NormPreservation`.
    public var norms: NormPreservation
    /// Multiplies the scale of every plan entry.
    public var scale: Float
    public var targets: [EditTarget]
    /// Plain r̂, or normalize(g ⊙ r̂) for weights whose output is normalized before the residual add
    /// (`EditDirectionMode`); `.automatic` picks the norm-aware one wherever the model has such a norm.
    public var direction: EditDirectionMode

    public init(method: RefusalDirection.Method = .projected, norms: NormPreservation = .none, scale: Float = 1,
                targets: [EditTarget] = [.attentionOutput, .mlpDown], direction: EditDirectionMode = .automatic) {
        self.method = method
        self.norms = norms
        self.scale = scale
        self.targets = targets
        self.direction = direction
    }
}

/// One tensor an ablation changes (or would change, in a dry run).
public struct TensorEditSummary: Sendable, Codable, Equatable {
    public var name: String
    /// The block whose weight it is (nil for the embedding).
    public var layer: Int?
    /// The residual position the direction was measured at (fractional between two residuals).
    public var measurementLayer: Double
    public var scale: Float
    /// Frobenius norms before and after the edit.
    public var normBefore: Double
    public var normAfter: Double
    /// ‖uᵀW′‖ / ‖W‖ after the edit, u the direction edited against (≈ 0 for scale 1 without norm
    /// preservation).
    public var remainingProjection: Double
    /// Whether u was the norm-aware normalize(g ⊙ r̂) (true) or r̂ itself; for a reader, whether it
    /// read through an input norm's gain.
    public var normAware: Bool
    /// Whether the tensor reads the residual (an input edit, `InputOrthogonalizer`) rather than writing it.
    public var reads: Bool = false
}

/// Step 4 of the method: orthogonalize the residual-writing weights of a model against the refusal
/// direction, following a `LayerPlan`.
///
/// For target block ℓ of an entry measured at residual index m, the direction is the one measured at m
/// (`projected` by default); `biprojected` also removes the harmless mean of residual ℓ, the input
/// of block ℓ (the embedding's: residual 0). The embedding, when targeted, takes the direction and scale of the
/// entry whose span starts first.
///
/// Where a block normalizes a weight's output before adding it to the residual (Gemma 3's post-norms),
/// the weight is orthogonalized against u = normalize(g ⊙ r̂), g that norm's gain, unless the options
/// ask for the plain edit (`EditDirectionMode`); the embedding writes the residual directly and always
/// takes r̂.
public enum ModelEditor {
    /// A planned tensor edit.
    public struct PlannedEdit: Sendable {
        public var name: String
        public var layer: Int?
        public var measurementLayer: Double
        public var scale: Float
        public var orientation: ResidualOrientation
        public var direction: RefusalDirection
        /// The gain g of the norm the weight's output passes through before the residual add, when the
        /// edit is norm-aware; nil for the plain edit.
        public var outputGain: [Float]?
        /// For a weight that reads the residual (`.readsFromResidual`): the gain g of the norm it reads
        /// through; the edit removes r̂ from what it reads, W ← W − s·(W(g ⊙ r̂))(r̂ ⊘ g)ᵀ.
        public var inputGain: [Float]?

        /// The unit vector the weight is orthogonalized against: normalize(g ⊙ r̂) when norm-aware, else r̂.
        public func editDirection() throws -> [Double] {
            guard let g = outputGain else { return direction.unit64 }
            return try NormAwareDirection.direction(direction.unit64, gain: g)
        }
    }

    /// Every tensor the plan edits for `model`, with its direction, scale and (when norm-aware) output
    /// gain, in model order. `.normAware` is refused for a weight without an output norm.
    public static func plannedEdits(
        plan: LayerPlan, measurements: Measurements, options: AblationOptions, model: LanguageModel
    ) throws -> [PlannedEdit] {
        var edits = try plannedEdits(
            plan: plan, measurements: measurements, options: options, layerCount: model.configuration.layerCount)
        for i in edits.indices where edits[i].orientation == .readsFromResidual {
            edits[i].inputGain = try model.inputNormGain(ofWeight: edits[i].name)
        }
        guard options.direction != .plain else { return edits }
        for i in edits.indices where edits[i].orientation == .writesToResidual {
            let gain = try model.outputNormGain(ofWeight: edits[i].name)
            if gain == nil && options.direction == .normAware {
                throw AbliterationError.unsupported(
                    "ablate: --edit-direction norm-aware needs an output norm, and \(edits[i].name) of this \(model.configuration.architecture.rawValue) model writes the residual directly (use auto or plain)")
            }
            edits[i].outputGain = gain
        }
        return edits
    }

    /// The mode that ran for `edits`: norm-aware when every residual-writing weight was edited norm-aware,
    /// plain when none was (a model without output norms under `.automatic`, or no writing weight at all).
    /// Edits of reading weights do not count: they always read through their input norm's gain.
    public static func appliedDirectionMode(_ edits: [PlannedEdit]) -> EditDirectionMode {
        let blockEdits = edits.filter { $0.orientation == .writesToResidual }
        if !blockEdits.isEmpty && blockEdits.allSatisfy({ $0.outputGain != nil }) { return .normAware }
        if blockEdits.allSatisfy({ $0.outputGain == nil }) { return .plain }
        return .automatic
    }

    /// Every tensor the plan edits, with its direction and scale, in model order, all with the plain
    /// edit: the part of `plannedEdits(plan:measurements:options:model:)` that needs no model. Internal, so
    /// that no caller can plan a Gemma edit without its output gains by mistake.
    static func plannedEdits(
        plan: LayerPlan, measurements: Measurements, options: AblationOptions, layerCount: Int
    ) throws -> [PlannedEdit] {
        try plan.validate(layerCount: layerCount)
        guard measurements.metadata.layerCount == layerCount else {
            throw AbliterationError.mismatch(
                "measurements cover \(measurements.metadata.layerCount) layers, the model has \(layerCount)")
        }
        var edits: [PlannedEdit] = []
        var cache: [Double: RefusalDirection] = [:]
        /// `target`: the residual index the edited weight's block reads (block ℓ reads ℓ; the embedding, 0).
        func direction(_ m: Double, target: Int) throws -> RefusalDirection {
            if options.method == .biprojected {
                return try measurements.direction(at: m, method: .biprojected, target: target)
            }
            if let d = cache[m] { return d }
            let d = try measurements.direction(at: m, method: options.method)
            cache[m] = d
            return d
        }
        if options.targets.contains(.embedding), let first = plan.entries.min(by: { $0.targets.lowerBound < $1.targets.lowerBound }) {
            edits.append(PlannedEdit(
                name: EditTarget.embedding.tensorName(layer: 0), layer: nil, measurementLayer: first.measurementLayer,
                scale: first.scale * options.scale, orientation: .embedding,
                direction: try direction(first.measurementLayer, target: 0)))
        }
        for layer in plan.targetLayers {
            guard let entry = plan.entry(forTarget: layer) else { continue }
            for target in options.targets where target != .embedding {
                edits.append(PlannedEdit(
                    name: target.tensorName(layer: layer), layer: layer, measurementLayer: entry.measurementLayer,
                    scale: (target.isFeedForward ? entry.mlpScale : entry.scale) * options.scale,
                    orientation: target.readsResidual ? .readsFromResidual : .writesToResidual,
                    direction: try direction(entry.measurementLayer, target: layer)))
            }
        }
        return edits
    }

    /// Whether an ablation with `options` can run as a `ResidualWriteEdit` in the forward pass instead of
    /// on the weights: any edit of `o_proj`/`down_proj` alone (plain, norm-preserving, row-normalized). The
    /// embedding edit changes rows of E (each token's vector), not a linear map of an activation, so it
    /// stays a weight edit (`apply`, with a snapshot to restore), as do edits of the weights that read the
    /// residual.
    public static func editsActivations(_ options: AblationOptions) -> Bool {
        options.targets.allSatisfy { $0 == .attentionOutput || $0 == .mlpDown }
    }

    /// The plan as an edit of the block outputs in the forward pass (`LanguageModel.setResidualWriteEdit`):
    /// for each planned tensor, the same unit direction u (r̂, or normalize(g ⊙ r̂) when norm-aware) and
    /// scale s the weight edit would use, so y − s·u(uᵀy) equals (W − s·u(uᵀW))x up to f32 rounding.
    /// Memory: one hidden-size vector per edited tensor, no weight copies. A row-normalized or
    /// norm-preserving edit (`NormPreservation.rows`, `.vectors`) needs each edited weight's row norms and
    /// gains or column gains: the weight edit runs on a transient f32 copy of one tensor at a time and its
    /// record gives them (three hidden-size vectors, or one input-size vector, per tensor kept). Refused
    /// for options that are not an activation edit (`editsActivations`).
    public static func residualWriteEdit(
        plan: LayerPlan, measurements: Measurements, options: AblationOptions, model: LanguageModel
    ) throws -> ResidualWriteEdit {
        guard editsActivations(options) else {
            throw AbliterationError.unsupported(
                "an edit of the embedding or of a reading weight is not an edit of block outputs; apply it to the weights")
        }
        var edit = ResidualWriteEdit()
        for planned in try plannedEdits(plan: plan, measurements: measurements, options: options, model: model) {
            guard let layer = planned.layer else { continue }
            let writer: ResidualWriter = planned.name.hasSuffix(ResidualWriter.attention.tensorSuffix) ? .attention : .feedForward
            guard options.norms != .none else {
                try edit.set(layer: layer, writer: writer, direction: try planned.editDirection(), scale: planned.scale)
                continue
            }
            var w = try model.weights.float32(planned.name)
            let record = try Orthogonalizer(direction: try planned.editDirection(), scale: planned.scale, norms: options.norms)
                .apply(to: &w, orientation: planned.orientation, name: planned.name)
            guard let gains = record.vectorScales else {
                throw AbliterationError.degenerate("\(planned.name): the \(options.norms.rawValue) edit recorded no scales")
            }
            if let rowNorms = record.rowNorms {
                try edit.setRowNormalized(
                    layer: layer, writer: writer, direction: record.direction, scale: record.scale, rowNorms: rowNorms, rowScales: gains)
            } else {
                try edit.setNormPreserving(layer: layer, writer: writer, direction: record.direction, scale: record.scale, inputScales: gains)
            }
        }
        return edit
    }

    /// Runs `body` with the plan applied to the model: as a residual write edit when the options allow
    /// (`editsActivations`), else on the weights, whose storage is snapshotted and restored afterwards.
    /// The model is back to its unedited state when this returns or throws.
    public static func withPlan<T>(
        _ plan: LayerPlan, measurements: Measurements, options: AblationOptions, model: LanguageModel,
        _ body: () throws -> T
    ) throws -> T {
        if editsActivations(options) {
            try model.setResidualWriteEdit(residualWriteEdit(plan: plan, measurements: measurements, options: options, model: model))
            defer { try? model.setResidualWriteEdit(nil) }
            return try body()
        }
        let names = try plannedEdits(plan: plan, measurements: measurements, options: options, model: model).map(\.name)
        let originals = try model.weights.snapshot(names)
        defer { model.weights.restore(originals) }
        try apply(plan: plan, measurements: measurements, options: options, to: model)
        return try body()
    }

    /// Applies the plan to the model's weights in memory (edited tensors become dense f32), or with
    /// `dryRun` only computes what would change. Returns one summary per tensor, and the records that
    /// undo the edits. Memory: one f32 copy of the tensor being edited at a time, plus the edited tensors
    /// kept (none in a dry run).
    @discardableResult
    public static func apply(
        plan: LayerPlan, measurements: Measurements, options: AblationOptions, to model: LanguageModel,
        dryRun: Bool = false
    ) throws -> (summaries: [TensorEditSummary], records: [String: OrthogonalizationRecord]) {
        let edits = try plannedEdits(plan: plan, measurements: measurements, options: options, model: model)
        var summaries: [TensorEditSummary] = []
        var records: [String: OrthogonalizationRecord] = [:]
        for edit in edits {
            guard model.weights.contains(edit.name) else {
                throw AbliterationError.invalidInput("ablate: the model has no tensor '\(edit.name)'")
            }
            var w = try model.weights.float32(edit.name)
            let (summary, record) = try apply(edit, to: &w, norms: options.norms)
            summaries.append(summary)
            if !dryRun {
                try model.weights.replace(edit.name, with: w)
                records[edit.name] = record
            }
        }
        return (summaries, records)
    }

    /// Orthogonalizes one tensor (f32, Hugging Face layout) as planned.
    public static func apply(
        _ edit: PlannedEdit, to w: inout Tensor<Float>, norms: NormPreservation
    ) throws -> (TensorEditSummary, OrthogonalizationRecord) {
        let before = Orthogonalizer.frobeniusNorm(w)
        let record: OrthogonalizationRecord
        let measuredAlong: [Float]  // u for a writer, g ⊙ r̂ for a reader: what is left along it is reported
        if edit.orientation == .readsFromResidual {
            guard norms == .none else {
                throw AbliterationError.unsupported(
                    "\(edit.name): a norm-preserving or row-normalized edit keeps the norms of a weight that writes the residual; \(edit.name) reads it (drop --norm-preserving/--row-normalized or the reading targets)")
            }
            let reader = try InputOrthogonalizer(direction: edit.direction.unit64, inputGain: edit.inputGain, scale: edit.scale)
            record = try reader.apply(to: &w, name: edit.name)
            measuredAlong = reader.reading
        } else {
            let orthogonalizer = try Orthogonalizer(
                direction: try edit.editDirection(), scale: edit.scale, norms: norms)
            record = try orthogonalizer.apply(to: &w, orientation: edit.orientation, name: edit.name)
            measuredAlong = orthogonalizer.direction
        }
        let remaining = try remainingProjection(w, direction: measuredAlong, orientation: edit.orientation)
        let reads = edit.orientation == .readsFromResidual
        let summary = TensorEditSummary(
            name: edit.name, layer: edit.layer, measurementLayer: edit.measurementLayer, scale: edit.scale,
            normBefore: before, normAfter: Orthogonalizer.frobeniusNorm(w),
            remainingProjection: remaining / max(before, .leastNormalMagnitude),
            normAware: (reads ? edit.inputGain : edit.outputGain) != nil, reads: reads)
        return (summary, record)
    }

    /// ‖r̂ᵀW‖ for `[hidden, in]` weights, ‖E r̂‖ for embeddings `[vocab, hidden]`, ‖W a‖ for readers `[out, hidden]`.
    public static func remainingProjection(_ w: Tensor<Float>, direction: [Float], orientation: ResidualOrientation) throws -> Double {
        let p = try Tensor.matvec(w, direction, transpose: orientation == .writesToResidual)
        return p.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }
}

extension TensorEditSummary {
    /// The edits as a table a person reads: tensor, block, measurement layer, scale, norms before and
    /// after, and the projection left on the direction.
    public static func table(_ summaries: [TensorEditSummary]) -> String {
        var lines = ["tensor                                            layer  r@  scale   ‖W‖ before   ‖W‖ after  ‖uᵀW′‖/‖W‖  u"]
        for s in summaries {
            let layer = s.layer.map(String.init) ?? "-", measured = LayerPlan.layerText(s.measurementLayer)
            lines.append(s.name.padding(toLength: 48, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: max(0, 7 - layer.count)) + layer
                + String(repeating: " ", count: max(0, 4 - measured.count)) + measured
                + String(format: "  %5.2f  %11.4f  %10.4f  %.2e", s.scale, s.normBefore, s.normAfter, s.remainingProjection)
                + (s.reads ? "    reads " : "    ") + (s.normAware ? "g⊙r̂" : "r̂"))
        }
        return lines.joined(separator: "\n")
    }
}
