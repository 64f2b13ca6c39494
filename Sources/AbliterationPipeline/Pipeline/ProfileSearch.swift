import Foundation
import TensorKit
import AbliterationCore
import LanguageModels

/// A smooth per-layer edit profile (after heretic's weight kernel): the direction of residual position
/// `measurementLayer` (fractional: between two residuals, as heretic's direction index), removed from block l with weight w(l) = 1 − (1 − edge)·|l − peak| / width where
/// |l − peak| ≤ width (0 beyond), at `attentionScale`·w(l) from `o_proj` and `mlpScale`·w(l) from `down_proj`.
public struct EditProfile: Sendable, Codable, Equatable {
    /// The direction's residual position, fractional between two residuals (to 0.1 when sampled).
    public var measurementLayer: Double
    public var peak: Double
    public var width: Double
    public var edge: Double
    public var attentionScale: Double
    public var mlpScale: Double

    /// The profile as a plan of one-block entries, each scale rounded to 0.01 (so the printed plan is the
    /// plan scored, exactly); blocks whose weight is under 0.02 are left out, a component whose scale
    /// rounds to 0 gets 0.01. Runs of blocks with the same scales are merged into one entry.
    public func plan(layerCount: Int) throws -> LayerPlan {
        func round2(_ x: Double) -> Float { Float((x * 100).rounded() / 100) }
        var entries: [LayerPlan.Entry] = []
        for l in 0..<layerCount {
            let distance = abs(Double(l) - peak)
            guard distance <= width else { continue }
            let w = 1 - (1 - edge) * distance / max(width, 1e-9)
            guard w >= 0.02 else { continue }
            let a = max(0.01, round2(attentionScale * w)), m = max(0.01, round2(mlpScale * w))
            if let last = entries.last, last.targets.upperBound == l - 1, last.scale == a, last.mlpScale == m {
                entries[entries.count - 1].targets = last.targets.lowerBound...l
            } else {
                entries.append(.init(measurementLayer: measurementLayer, targets: l...l, scale: a, mlpScale: m))
            }
        }
        guard !entries.isEmpty else {
            throw AbliterationError.invalidPlan("profile edits no block (peak \(peak), width \(width))")
        }
        let plan = try LayerPlan(entries: entries)
        try plan.validate(layerCount: layerCount)
        return plan
    }
}

/// The search of issue 15: a continuous space of `EditProfile`s (direction layer, peak, width, edge
/// weight, attention and MLP scales), explored with the cheap `ScreeningObjective` by a seeded
/// evolutionary loop over its Pareto front (refusal score vs KL); a short list from that front is then
/// confirmed with generated refusal counts, and the confirmed Pareto front (refusals vs KL) is what the
/// plan is chosen from (`PlanSearch.Selection`).
public struct ProfileSearch: Sendable {
    /// Bounds of the space, as fractions of the layer count where they are layers.
    public var measurementRange: ClosedRange<Double> = 0.4...0.9
    public var peakRange: ClosedRange<Double> = 0.15...0.9
    public var widthRange: ClosedRange<Double> = 0.1...0.6
    public var scaleRange: ClosedRange<Double> = 0.25...2.0
    public var seed: UInt64
    /// Cheap evaluations in all: `initial` random profiles, then rounds of `batch` children.
    public var evaluations: Int
    public var initial: Int
    public var batch: Int
    /// Plans of the cheap front confirmed by generation.
    public var confirm: Int

    public init(seed: UInt64 = 1, evaluations: Int = 40, initial: Int = 16, batch: Int = 8, confirm: Int = 6) {
        self.seed = seed
        self.evaluations = max(evaluations, 1)
        self.initial = max(1, min(initial, evaluations))
        self.batch = max(batch, 1)
        self.confirm = max(confirm, 1)
    }

    /// One profile scored by the cheap objective.
    public struct Screened: Sendable, Codable, Equatable {
        public var plan: String
        public var profile: EditProfile
        public var refusalScore: Double
        public var klDivergence: Double
    }

    /// The profile at point x ∈ [0, 1]⁶ of the space.
    func profile(_ x: [Double], layerCount l: Int) -> EditProfile {
        func at(_ r: ClosedRange<Double>, _ t: Double) -> Double { r.lowerBound + (r.upperBound - r.lowerBound) * t }
        let lo = Int((measurementRange.lowerBound * Double(l)).rounded()), hi = Int((measurementRange.upperBound * Double(l)).rounded())
        let m = min(Double(l), max(1, (Double(lo) * 10 + (x[0] * Double(hi - lo) * 10).rounded()) / 10))
        return EditProfile(
            measurementLayer: m, peak: at(peakRange, x[1]) * Double(l), width: max(1, at(widthRange, x[2]) * Double(l)),
            edge: x[3], attentionScale: at(scaleRange, x[4]), mlpScale: at(scaleRange, x[5]))
    }

    /// Indices of the points not dominated in (first, second) (both lower is better), ascending by first.
    public static func paretoFront(_ points: [(Double, Double)]) -> [Int] {
        let order = points.indices.sorted { (points[$0].0, points[$0].1) < (points[$1].0, points[$1].1) }
        var front: [Int] = []
        var best = Double.infinity
        for i in order where points[i].1 < best {
            front.append(i)
            best = points[i].1
        }
        return front
    }

    /// Runs the cheap search. `score(plan)` scores a plan with the cheap objective (the caller applies and
    /// removes it). Returns every profile scored, in order; duplicates (the same printed plan) are
    /// scored once.
    public func explore(
        layerCount: Int, score: (LayerPlan) throws -> ScreeningObjective.Score,
        progress: ((Int, Int, Screened) -> Void)? = nil
    ) throws -> [Screened] {
        var rng = SplitMix64(seed: seed)
        var points: [[Double]] = []
        var screened: [Screened] = []
        var seen = Set<String>()
        func evaluate(_ x: [Double]) throws {
            let p = profile(x, layerCount: layerCount)
            let plan = try p.plan(layerCount: layerCount)
            guard seen.insert(plan.description).inserted else { return }
            let s = try score(plan)
            points.append(x)
            screened.append(Screened(plan: plan.description, profile: p, refusalScore: s.refusalScore, klDivergence: s.klDivergence))
            progress?(screened.count, evaluations, screened.last!)
        }
        var attempts = 0
        while screened.count < initial && attempts < initial * 4 {
            attempts += 1
            try evaluate((0..<6).map { _ in rng.unit() })
        }
        var sigma = 0.15
        while screened.count < evaluations && attempts < evaluations * 4 {
            let front = Self.paretoFront(screened.map { ($0.refusalScore, $0.klDivergence) })
            for _ in 0..<batch where screened.count < evaluations {
                attempts += 1
                let parent = points[front[Int(rng.next() % UInt64(front.count))]]
                try evaluate(parent.map { min(1, max(0, $0 + sigma * rng.gaussian())) })
            }
            sigma = max(0.04, sigma * 0.8)
        }
        return screened
    }

    /// Up to `confirm` points of the cheap front, spread evenly along it, among those whose refusal
    /// score is at most half the unedited model's (the part of the front that removes refusal).
    public func shortList(_ screened: [Screened], uneditedScore: Double) -> [Int] {
        let front = Self.paretoFront(screened.map { ($0.refusalScore, $0.klDivergence) })
        let useful = front.filter { screened[$0].refusalScore <= uneditedScore / 2 }
        let pool = useful.isEmpty ? front : useful
        guard pool.count > confirm else { return pool }
        var picked: [Int] = []
        for k in 0..<confirm {
            let i = pool[Int((Double(k) * Double(pool.count - 1) / Double(confirm - 1)).rounded())]
            if !picked.contains(i) { picked.append(i) }
        }
        return picked
    }
}
