/// BPE merge table keyed by the pair of token ids: `(left, right) -> (rank, merged id)`.
///
/// Encoding a word starts from one symbol per character (or byte) and repeatedly merges the adjacent pair
/// of lowest rank, the leftmost one on ties, until no adjacent pair has a merge. That is Hugging Face
/// `tokenizers`' `BPE` (no dropout) and, with ranks from scores, SentencePiece BPE.
struct BPEMerges: Sendable {
    /// key `left << 32 | right`, value `rank << 32 | merged`.
    private var table: [UInt64: UInt64] = [:]

    var count: Int { table.count }

    init() {}

    @inline(__always) private static func key(_ l: Int32, _ r: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))
    }

    /// Adds a merge unless the pair already has one (the first, best-ranked, wins).
    mutating func add(left: Int32, right: Int32, merged: Int32, rank: Int) {
        let k = Self.key(left, right)
        if table[k] == nil { table[k] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged)) }
    }

    /// `(rank, merged id)` of a pair, or nil.
    @inline(__always) func lookup(_ l: Int32, _ r: Int32) -> (rank: Int32, merged: Int32)? {
        guard let v = table[Self.key(l, r)] else { return nil }
        return (Int32(truncatingIfNeeded: v >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: v)))
    }

    /// Applies the merges to `symbols` in place.
    func apply(_ symbols: inout [Int32]) {
        if symbols.count < 2 { return }
        if symbols.count <= 64 { applyQuadratic(&symbols) } else { applyHeap(&symbols) }
    }

    /// Short words: scan all adjacent pairs for the best merge each round. O(n²), tiny constants.
    private func applyQuadratic(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var bestRank = Int32.max, bestPos = -1, bestID: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                if let m = lookup(symbols[i], symbols[i + 1]), m.rank < bestRank {
                    bestRank = m.rank; bestPos = i; bestID = m.merged
                }
            }
            if bestPos < 0 { return }
            symbols[bestPos] = bestID
            symbols.remove(at: bestPos + 1)
        }
    }

    /// Long words: a doubly linked list of symbols and a min-heap of candidate merges ordered by
    /// (rank, position). Stale heap entries are recognised by the pair no longer being there.
    private func applyHeap(_ symbols: inout [Int32]) {
        let n = symbols.count
        var id = symbols
        var next = [Int32](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = i + 1 < n ? Int32(i + 1) : -1 }; c = n }
        var prev = [Int32](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = Int32(i - 1) }; c = n }
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = lookup(id[i], id[i + 1]) {
                heap.push(MergeCandidate(rank: m.rank, pos: Int32(i), left: id[i], right: id[i + 1]))
            }
        }
        while let top = heap.pop() {
            let p = Int(top.pos)
            let q = Int(next[p])
            if id[p] != top.left || q < 0 || id[q] != top.right { continue }
            guard let m = lookup(top.left, top.right) else { continue }
            // merge q into p
            id[p] = m.merged
            id[q] = -1
            let r = next[q]
            next[p] = r
            if r >= 0 { prev[Int(r)] = Int32(p) }
            let l = prev[p]
            if l >= 0, let ml = lookup(id[Int(l)], id[p]) {
                heap.push(MergeCandidate(rank: ml.rank, pos: l, left: id[Int(l)], right: id[p]))
            }
            if r >= 0, let mr = lookup(id[p], id[Int(r)]) {
                heap.push(MergeCandidate(rank: mr.rank, pos: Int32(p), left: id[p], right: id[Int(r)]))
            }
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        var i: Int32 = 0
        while i >= 0 { out.append(id[Int(i)]); i = next[Int(i)] }
        symbols = out
    }
}

struct MergeCandidate {
    var rank: Int32
    var pos: Int32
    var left: Int32
    var right: Int32

    @inline(__always) func before(_ o: MergeCandidate) -> Bool {
        rank != o.rank ? rank < o.rank : pos < o.pos
    }
}

/// Binary min-heap of merge candidates.
struct MergeHeap {
    private var items: [MergeCandidate] = []

    mutating func push(_ x: MergeCandidate) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !items[i].before(items[parent]) { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && items[l].before(items[m]) { m = l }
            if r < n && items[r].before(items[m]) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return first
    }
}
