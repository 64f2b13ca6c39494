import XCTest
import TensorKit
@testable import AbliterationCore
import TestSupport

final class RunningMeanTests: XCTestCase {
    /// Exact-ish reference: two-pass mean and M₂ in f64.
    func reference(_ rows: [[Double]]) -> (mean: [Double], m2: [Double]) {
        let d = rows[0].count, n = Double(rows.count)
        var mean = [Double](repeating: 0, count: d)
        for r in rows { for i in 0..<d { mean[i] += r[i] } }
        for i in 0..<d { mean[i] /= n }
        var m2 = [Double](repeating: 0, count: d)
        for r in rows { for i in 0..<d { m2[i] += (r[i] - mean[i]) * (r[i] - mean[i]) } }
        return (mean, m2)
    }

    func testWelfordMatchesTwoPassReference() throws {
        try forEachSeed(20) { seed, g in
            let d = Int.random(in: 1...70, using: &g), n = Int.random(in: 2...60, using: &g)
            let rows = (0..<n).map { _ in g.normals(d, scale: 3, offset: 100) }
            var acc = RunningMean(dimension: d)
            for r in rows { try acc.add(r) }
            let ref = reference(rows)
            XCTAssertEqual(acc.count, n)
            XCTAssertLessThan(relativeDifference(acc.mean, ref.mean), 1e-13, "seed \(seed)")
            XCTAssertLessThan(relativeDifference(acc.sumOfSquaredDeviations, ref.m2), 1e-10, "seed \(seed)")
            XCTAssertLessThan(relativeDifference(acc.variance, ref.m2.map { $0 / Double(n - 1) }), 1e-10, "seed \(seed)")
            XCTAssertLessThan(relativeDifference(acc.populationVariance, ref.m2.map { $0 / Double(n) }), 1e-10, "seed \(seed)")
        }
    }

    func testMergeOrderAndBatchSplitsDoNotChangeTheResult() throws {
        try forEachSeed(20, base: 7) { seed, g in
            let d = Int.random(in: 1...50, using: &g), n = Int.random(in: 5...80, using: &g)
            let rows = (0..<n).map { _ in g.floats(d, scale: 10) }
            var sequential = RunningMean(dimension: d)
            for r in rows { try sequential.add(r) }
            // Random batch splits, each batch added as a (batch, d) tensor into its own accumulator.
            var parts: [RunningMean] = []
            var start = 0
            while start < n {
                let len = Int.random(in: 1...(n - start), using: &g)
                var part = RunningMean(dimension: d)
                let flat = rows[start..<(start + len)].flatMap { $0 }
                try part.add(rows: Tensor(shape: [len, d], scalars: flat))
                parts.append(part)
                start += len
            }
            // Merge in two different orders.
            var forward = RunningMean(dimension: d)
            for p in parts { try forward.merge(p) }
            var shuffled = RunningMean(dimension: d)
            for p in parts.shuffled(using: &g) { try shuffled.merge(p) }
            // A tree: pairwise merges.
            var level = parts
            while level.count > 1 {
                var next: [RunningMean] = []
                for i in stride(from: 0, to: level.count, by: 2) {
                    next.append(i + 1 < level.count ? try level[i].merged(with: level[i + 1]) : level[i])
                }
                level = next
            }
            for (name, other) in [("forward", forward), ("shuffled", shuffled), ("tree", level[0])] {
                XCTAssertEqual(other.count, n)
                XCTAssertLessThan(relativeDifference(other.mean, sequential.mean), 1e-12, "seed \(seed) \(name)")
                XCTAssertLessThan(relativeDifference(other.sumOfSquaredDeviations, sequential.sumOfSquaredDeviations), 1e-12, "seed \(seed) \(name)")
            }
        }
    }

    func testBFloat16AndFloat16InputsAccumulateTheirExactValues() throws {
        var g = SeededGenerator(seed: 3)
        let d = 33
        let rows = (0..<10).map { _ in g.floats(d, scale: 2) }
        let bf = rows.map { Precision.bf16(from: $0) }
        var a = RunningMean(dimension: d), b = RunningMean(dimension: d)
        for r in bf {
            try a.add(r)
            try b.add(r.map { Double($0.floatValue) })
        }
        XCTAssertEqual(a.mean, b.mean)
        var c = RunningMean(dimension: d)
        try c.add(rows: Tensor(shape: [10, d], scalars: bf.flatMap { $0 }))
        XCTAssertLessThan(relativeDifference(c.mean, a.mean), 1e-12)
        var h = RunningMean(dimension: d)
        for r in rows { try h.add(r.map { Float16($0) }) }
        XCTAssertEqual(h.count, 10)
        XCTAssertEqual(a.meanTensor().shape, [d])
        XCTAssertEqual(a.meanTensor().scalars, a.mean.map { Float($0) })
    }

    func testSizeMismatchesThrowAndEmptyIsZero() throws {
        var acc = RunningMean(dimension: 4)
        XCTAssertEqual(acc.variance, [0, 0, 0, 0])
        XCTAssertThrowsError(try acc.add([1.0, 2.0] as [Double])) { XCTAssertTrue("\($0)".contains("expected 4")) }
        XCTAssertThrowsError(try acc.merge(RunningMean(dimension: 5)))
        XCTAssertThrowsError(try acc.add(rows: Tensor<Float>(zeros: [2, 3])))
        try acc.merge(RunningMean(dimension: 4))
        XCTAssertEqual(acc.count, 0)
        XCTAssertThrowsError(try RunningMean(count: 1, mean: [1, 2], sumOfSquaredDeviations: [0]))
        let restored = try RunningMean(count: 3, mean: [1, 2], sumOfSquaredDeviations: [4, 8])
        XCTAssertEqual(restored.variance, [2, 4])
        let json = try JSONEncoder().encode(restored)
        XCTAssertEqual(try JSONDecoder().decode(RunningMean.self, from: json), restored)
    }
}
