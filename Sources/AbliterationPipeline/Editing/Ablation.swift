import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

extension ModelEditor {
    /// Where `ablate` puts the edited model.
    public enum Output: Sendable, Equatable {
        /// Compute what would change and write nothing.
        case dryRun
        /// A new Hugging Face directory, in `dtype` (nil: the input's float type, bf16 for GGUF or 4-bit inputs).
        case directory(String, dtype: DType?)
        /// A GGUF file. From a GGUF input: untouched tensors and all metadata copied, edited tensors
        /// re-encoded as their own type or `editedType`; from a Hugging Face directory: the whole model
        /// converted in `modelType` (nil: `auto`) (`GGUFExport`, `GGUFConversion`).
        case gguf(String, editedType: GGUFExport.TensorType, modelType: GGUFConversion.FileType? = nil)
    }

    /// What `ablate` changed: one summary per edited tensor, and the export when a directory was written.
    public struct AblationResult: Sendable, Equatable {
        public var edits: [TensorEditSummary]
        public var export: CheckpointExport.Summary?
        /// The GGUF export, when a GGUF file was written.
        public var gguf: GGUFExport.Summary? = nil
    }

    /// Steps 4 and 5 from a measurements file: checks that `measurements` were taken on a model like the
    /// session's, then either computes the edits of `plan` (`.dryRun`) or writes the edited model as a
    /// Hugging Face directory or a GGUF file with the plan, method and `measurementsPath` in its metadata.
    public static func ablate(
        session: ModelSession, plan: LayerPlan, measurements: Measurements, measurementsPath: String,
        options: AblationOptions, output: Output, progress: ((Int, Int) -> Void)? = nil
    ) throws -> AblationResult {
        let c = session.model.configuration
        try measurements.checkCompatible(
            architecture: c.architecture.rawValue, hiddenSize: c.hiddenSize, layerCount: c.layerCount, model: session.path)
        switch output {
        case .dryRun:
            let summaries = try apply(plan: plan, measurements: measurements, options: options, to: session.model, dryRun: true).summaries
            return AblationResult(edits: summaries, export: nil)
        case .directory(let directory, let dtype):
            let edits = try plannedEdits(plan: plan, measurements: measurements, options: options, model: session.model)
            let summary = try CheckpointExport.write(
                session: session, to: directory, dtype: dtype, edits: edits, norms: options.norms,
                metadata: ["abliterate.plan": plan.description, "abliterate.method": options.method.rawValue,
                           "abliterate.edit_direction": appliedDirectionMode(edits).rawValue,
                           "abliterate.measurements": measurementsPath],
                progress: progress)
            return AblationResult(edits: summary.edits, export: summary)
        case .gguf(let path, let editedType, let modelType):
            let edits = try plannedEdits(plan: plan, measurements: measurements, options: options, model: session.model)
            let summary = try GGUFExport.write(
                session: session, to: path, editedType: editedType, modelType: modelType, edits: edits,
                norms: options.norms,
                provenance: provenance(plan: plan, options: options, edits: edits, measurements: measurementsPath),
                progress: progress)
            return AblationResult(edits: summary.edits, export: nil, gguf: summary)
        }
    }

    /// The `abliterate.*` keys describing an ablation: plan, method, edit direction, scale, norm
    /// preservation, targets and (when given) the measurements file's name.
    public static func provenance(
        plan: LayerPlan, options: AblationOptions, edits: [PlannedEdit], measurements: String?
    ) -> [String: String] {
        var keys = [
            "abliterate.plan": plan.description, "abliterate.method": options.method.rawValue,
            "abliterate.edit_direction": appliedDirectionMode(edits).rawValue,
            "abliterate.scale": "\(options.scale)", "abliterate.norm_preservation": options.norms.rawValue,
            "abliterate.targets": options.targets.map(\.rawValue).joined(separator: ","),
        ]
        if let measurements { keys["abliterate.measurements"] = URL(fileURLWithPath: measurements).lastPathComponent }
        return keys
    }
}
