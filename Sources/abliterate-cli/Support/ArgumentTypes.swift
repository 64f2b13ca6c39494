import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation
import TensorKit

/// `--dtype`: a float dtype for written weights, BF16, F16 or F32 (in any case).
struct FloatDType: ExpressibleByArgument {
    let dtype: DType

    init?(argument: String) {
        guard let d = DType(rawValue: argument.uppercased()), [DType.bf16, .f16, .f32].contains(d) else { return nil }
        dtype = d
    }

    private init(_ dtype: DType) { self.dtype = dtype }
    static let bf16 = FloatDType(.bf16)

    static var allValueStrings: [String] { ["BF16", "F16", "F32"] }
    var defaultValueDescription: String { dtype.rawValue }
}

/// `--targets`: the tensors to edit, `o_proj,down_proj,embed` or `inputs` (comma-separated). The list is parsed when
/// the argument is read; an error (naming the bad target) is thrown by `targets()`, in the command's
/// run, so it is reported like every other error of the command.
struct EditTargetList: ExpressibleByArgument {
    let text: String
    private let parsed: Result<[EditTarget], Error>

    init(argument: String) {
        text = argument
        parsed = Result { try EditTarget.parseList(argument) }
    }

    func targets() throws -> [EditTarget] { try parsed.get() }

    static var allValueStrings: [String] { EditTarget.allCases.map(\.rawValue) }
    var defaultValueDescription: String { text }
}

/// `--plan`: a layer plan in the CLI form (`20:8-24,...`) or a .json file holding one, a run report's
/// with the edit options it was scored with (`LayerPlan.read(argument:)`). Read and parsed once, when the
/// argument is read; an error (quoting the bad entry) is thrown by `plan()`, in the command's run.
struct PlanArgument: ExpressibleByArgument {
    let text: String
    private let parsed: Result<(plan: LayerPlan, recorded: AblationOptions?), Error>

    init(argument: String) {
        text = argument
        parsed = Result { try LayerPlan.read(argument: argument) }
    }

    func plan() throws -> LayerPlan { try parsed.get().plan }

    /// The edit options of the run report the plan came from, if it came from one.
    var recordedOptions: AblationOptions? { try? parsed.get().recorded }

    /// The plan file, when the plan is given as one: an input that no output may overwrite.
    var file: String? { LayerPlan.file(inArgument: text) }
}

extension RefusalDirection.Method: ExpressibleByArgument {}
extension MeasurementQuantization: ExpressibleByArgument {}
extension EditDirectionMode: ExpressibleByArgument {}

/// Throws "NAME must be at least 1, got N" for the first count below 1.
func requirePositive(_ counts: (String, Int)...) throws {
    for (name, value) in counts where value < 1 { throw ValidationError("\(name) must be at least 1, got \(value)") }
}
extension AbliterationRun.SearchKind: ExpressibleByArgument {}
