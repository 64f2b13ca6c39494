import Foundation
import XCTest
@testable import AbliterationCore
import TestSupport

final class WinsorizerTests: XCTestCase {
    struct Case: Decodable {
        let name: String
        let q: Double
        let input: [Float]
        let threshold: Double
        let clipped: [Float]
    }
    struct FixtureFile: Decodable { let cases: [Case] }

    func fixtures() throws -> [Case] {
        let url = Bundle.module.url(forResource: "winsorizer", withExtension: "json", subdirectory: "Fixtures")
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/winsorizer.json")
        return try JSONDecoder().decode(FixtureFile.self, from: Data(contentsOf: url)).cases
    }

    func testMatchesNumpyQuantileLinear() throws {
        let cases = try fixtures()
        XCTAssertEqual(Set(cases.map(\.q)), [0.9, 0.995, 1.0])
        XCTAssertGreaterThanOrEqual(cases.count, 24)
        for c in cases {
            let w = try Winsorizer(quantile: c.q)
            let t = try w.threshold(of: c.input)
            XCTAssertEqual(Double(t), c.threshold, accuracy: 1e-6 * max(1, c.threshold), "\(c.name) q=\(c.q)")
            let out = try w.clipped(c.input)
            for i in out.indices {
                XCTAssertEqual(out[i], c.clipped[i], accuracy: 1e-6 * max(1, abs(c.clipped[i])), "\(c.name) q=\(c.q) [\(i)]")
            }
            if c.q == 1 { XCTAssertEqual(out, c.input, "\(c.name): q = 1 must leave the vector unchanged") }
        }
    }

    func testSelectionAgreesWithSortingOnRandomVectorsWithTies() throws {
        try forEachSeed(200, base: 11) { seed, g in
            let n = Int.random(in: 1...300, using: &g)
            let ties = Bool.random(using: &g)
            var values: [Float] = (0..<n).map { _ in ties ? Float(Int.random(in: 0...6, using: &g)) : Float(g.normal()) }
            let sorted = values.sorted()
            let rank = Int.random(in: 0..<n, using: &g)
            let v = values.withUnsafeMutableBufferPointer { Selection.select($0, rank: rank) }
            XCTAssertEqual(v, sorted[rank], "seed \(seed) n \(n) rank \(rank)")
            XCTAssertTrue(values[..<rank].allSatisfy { $0 <= v } && values[rank...].allSatisfy { $0 >= v }, "seed \(seed)")
            // The threshold equals the sort-based linear quantile of |x|.
            let q = Double.random(in: 0...1, using: &g)
            let mags = values.map { abs($0) }.sorted()
            let h = Double(n - 1) * q, lo = Int(h.rounded(.down))
            let expect = lo + 1 < n ? Double(mags[lo]) + (h - Double(lo)) * Double(mags[lo + 1] - mags[lo]) : Double(mags[lo])
            XCTAssertEqual(Double(try Winsorizer(quantile: q).threshold(of: values)), expect, accuracy: 1e-6 * max(1, expect), "seed \(seed)")
        }
    }

    func testHeapSortFallback() {
        var g = SeededGenerator(seed: 5)
        var values = g.floats(1000)
        values.withUnsafeMutableBufferPointer { Selection.heapSort($0, 0, 999) }
        XCTAssertEqual(values, values.sorted())
    }

    func testAdversarialInputsStayFast() throws {
        // Sorted, reversed, all-equal and organ-pipe inputs of 200k values must not go quadratic.
        let n = 200_000
        let inputs: [[Float]] = [
            (0..<n).map(Float.init), (0..<n).reversed().map(Float.init), Array(repeating: 1, count: n),
            (0..<n).map { Float(min($0, n - $0)) },
        ]
        let w = try Winsorizer(quantile: 0.995)
        let start = Date()
        for x in inputs { _ = try w.threshold(of: x) }
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
    }

    func testPerVectorClippingDoesNotDependOnBatching() throws {
        try forEachSeed(10, base: 13) { seed, g in
            let d = Int.random(in: 2...40, using: &g), n = Int.random(in: 2...20, using: &g)
            var rows = (0..<n).map { _ in g.floats(d) }
            rows[0][0] = 1000  // an outlier in one prompt must not change the others
            let w = try Winsorizer(quantile: 0.9)
            var batch = rows.flatMap { $0 }
            try w.clipRows(&batch, rowLength: d)
            for r in 0..<n {
                XCTAssertEqual(Array(batch[(r * d)..<((r + 1) * d)]), try w.clipped(rows[r]), "seed \(seed) row \(r)")
            }
            // Means over different batch splits of the clipped rows agree.
            var whole = RunningMean(dimension: d)
            try whole.addRows(batch, rowCount: n, rowLength: d)
            var split = RunningMean(dimension: d)
            for r in rows { try split.add(try w.clipped(r)) }
            XCTAssertLessThan(relativeDifference(whole.mean, split.mean), 1e-12, "seed \(seed)")
        }
    }

    func testEdgeCases() throws {
        XCTAssertThrowsError(try Winsorizer(quantile: 1.5))
        XCTAssertThrowsError(try Winsorizer(quantile: -0.1))
        XCTAssertThrowsError(try Winsorizer(quantile: .nan))
        let w = try Winsorizer(quantile: 0.5)
        XCTAssertThrowsError(try w.clipped([1, .nan, 2])) { XCTAssertTrue("\($0)".contains("NaN")) }
        XCTAssertThrowsError(try Winsorizer(quantile: 1).clipped([.nan]))
        XCTAssertEqual(try w.clipped([]), [])
        // Infinite activations are clipped to a finite threshold below q = 1 and kept at q = 1.
        XCTAssertEqual(try w.clipped([-.infinity, 1, 2, -3, .infinity]), [-3, 1, 2, -3, 3])
        XCTAssertEqual(try Winsorizer(quantile: 1).clipped([.infinity, -1]), [.infinity, -1])
        XCTAssertEqual(try Winsorizer(quantile: 0).clipped([-2, 1, 3]), [-1, 1, 1])
    }
}
