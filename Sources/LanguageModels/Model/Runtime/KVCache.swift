/// Keys and values of past tokens, per block and per sequence, for incremental decoding.
///
/// For block l and sequence slot s, keys and values are (capacity_s, kvHeads·headDim) row-major,
/// row p holding position p (after RoPE for keys). `lengths[s]` positions are filled.
public final class KVCache: @unchecked Sendable {
    public let layerCount: Int
    public let width: Int
    public let capacities: [Int]
    public private(set) var lengths: [Int]
    private var keys: [UnsafeMutablePointer<Float>]
    private var values: [UnsafeMutablePointer<Float>]

    /// A cache for `capacities.count` sequences, each holding up to `capacities[s]` positions.
    public init(configuration c: ModelConfiguration, capacities: [Int]) {
        layerCount = c.layerCount
        width = c.keyValueWidth
        self.capacities = capacities
        lengths = Array(repeating: 0, count: capacities.count)
        keys = []
        values = []
        for _ in 0..<layerCount {
            for cap in capacities {
                let n = max(1, cap * width)
                let k = UnsafeMutablePointer<Float>.allocate(capacity: n)
                let v = UnsafeMutablePointer<Float>.allocate(capacity: n)
                k.initialize(repeating: 0, count: n)
                v.initialize(repeating: 0, count: n)
                keys.append(k)
                values.append(v)
            }
        }
    }

    deinit {
        for p in keys { p.deallocate() }
        for p in values { p.deallocate() }
    }

    public var sequenceCount: Int { capacities.count }

    func keys(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> { keys[layer * capacities.count + slot] }
    func values(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> { values[layer * capacities.count + slot] }

    /// Marks `count` more positions of `slot` as filled (after every block has written them).
    func advance(slot: Int, by count: Int) { lengths[slot] += count }
}
