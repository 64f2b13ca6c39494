import AbliterationCore

/// The search for the weakest global scale of a plan that still reaches the refusal target.
///
/// Refusal falls steeply with the scale of an edit while KL rises with it, so among the scales that reach
/// the target the smallest is the best. Starting from a plan that misses the target at factor 1, the
/// refinement multiplies the factor by `growth` until one reaches the target (at most `maxGrowthSteps`
/// times), then bisects between the last factor that missed and the first that reached it `bisections`
/// times. With the defaults (growth 1.25, two bisections) it tries 1.25, then 1.125, then 1.0625 or
/// 1.1875: the smallest passing factor is then known to within 1/16 of the plan's scale.
///
/// It only decides which factor to try next; `PlanSearch.refine` scores them on the model.
public struct ScaleRefinement: Sendable, Equatable {
    public var growth: Float
    public var maxGrowthSteps: Int
    public var bisections: Int

    /// The largest factor known to miss the target, and the smallest known to reach it.
    public private(set) var missing: Float = 1
    public private(set) var reaching: Float?
    private var growthSteps = 0
    private var bisectionsDone = 0

    public init(growth: Float = 1.25, maxGrowthSteps: Int = 2, bisections: Int = 2) {
        precondition(growth > 1 && maxGrowthSteps >= 1 && bisections >= 0)
        self.growth = growth
        self.maxGrowthSteps = maxGrowthSteps
        self.bisections = bisections
    }

    /// The next factor to score, or nil when the refinement is done.
    public var next: Float? {
        if let up = reaching {
            return bisectionsDone < bisections ? (missing + up) / 2 : nil
        }
        return growthSteps < maxGrowthSteps ? missing * growth : nil
    }

    /// Records whether `factor` (the last `next`) reached the target.
    public mutating func record(factor: Float, reachedTarget: Bool) {
        if reaching == nil { growthSteps += 1 } else { bisectionsDone += 1 }
        if reachedTarget {
            reaching = min(reaching ?? factor, factor)
        } else {
            missing = max(missing, factor)
        }
    }
}
