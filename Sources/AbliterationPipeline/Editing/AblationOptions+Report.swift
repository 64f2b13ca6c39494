import Foundation
import AbliterationCore

extension AblationOptions {
    /// The edit options a `run` report (`report.json`) records: its targets, direction method, what the edit
    /// kept of the weights' norms (`norms`, or the older `normPreserving`) and global scale; the edit
    /// direction is left `.automatic` (a report records the one that ran, not the mode asked for). Nil for
    /// data that is not a run report (a JSON object with `plan` and `measurement`) or lacks one of these keys.
    public init?(runReport data: Data) {
        guard let report = RunReportObject(data) else { return nil }
        self.init(runReport: report)
    }

    init?(runReport report: RunReportObject) {
        let object = report.object
        guard let targetNames = object["targets"] as? [String], let methodName = object["method"] as? String,
              let method = RefusalDirection.Method(rawValue: methodName), let scale = (object["scale"] as? NSNumber)?.floatValue
        else { return nil }
        var targets: [EditTarget] = []
        for name in targetNames {
            guard let target = EditTarget(rawValue: name) else { return nil }
            targets.append(target)
        }
        let norms: NormPreservation
        if let name = object["norms"] as? String {
            guard let n = NormPreservation(rawValue: name) else { return nil }
            norms = n
        } else if let legacy = object["normPreserving"] as? Bool {
            norms = legacy ? .vectors : .none
        } else {
            return nil
        }
        self.init(method: method, norms: norms, scale: scale, targets: targets)
    }
}
