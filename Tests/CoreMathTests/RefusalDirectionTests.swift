import XCTest
@testable import AbliterationCore
import TestSupport

final class RefusalDirectionTests: XCTestCase {
    /// Synthetic means shaped like an instruction-tuned model's: a large shared component, a refusal
    /// component that grows the harmful mean and shrinks the harmless mean along it.
    func means(_ d: Int, _ g: inout SeededGenerator) -> (harmful: [Double], harmless: [Double]) {
        let common = g.normals(d, scale: 1, offset: 0.5)
        let refusal = g.normals(d, scale: 0.7)
        let harmless = zip(common, refusal).map { $0 - 0.3 * $1 }
        let harmful = zip(common, refusal).map { $0 + 0.7 * $1 }
        return (harmful, harmless)
    }

    func testConventionalIsTheDifference() throws {
        var g = SeededGenerator(seed: 1)
        let (h, a) = means(17, &g)
        let r = try RefusalDirection.conventional(harmful: h, harmless: a, layer: 3)
        XCTAssertEqual(r.method, .conventional)
        XCTAssertEqual(r.vector, zip(h, a).map { $0 - $1 })
        XCTAssertEqual(r.norm, norm(r.vector), accuracy: 1e-12 * r.norm)
        XCTAssertEqual(norm(r.unit64), 1, accuracy: 1e-14)
        XCTAssertEqual(r.unit.count, 17)
    }

    func testProjectedIsOrthogonalToTheHarmlessMean_Double() throws {
        try forEachSeed(30, base: 2) { seed, g in
            let d = Int.random(in: 2...600, using: &g)
            let (h, a) = means(d, &g)
            let p = try RefusalDirection.projected(harmful: h, harmless: a)
            let cosine = dot(p.unit64, a) / norm(a)
            XCTAssertLessThan(abs(cosine), 1e-6, "seed \(seed) d \(d)")
            XCTAssertLessThan(abs(cosine), 1e-14, "seed \(seed): two Gram–Schmidt passes leave no residue")
            // r′ is r minus its component along â.
            let r = zip(h, a).map { $0 - $1 }
            let ahat = a.map { $0 / norm(a) }
            let expect = zip(r, ahat).map { $0 - dot(r, ahat) * $1 }
            XCTAssertLessThan(relativeDifference(p.vector, expect), 1e-12, "seed \(seed)")
            // The f32 unit vector the editor uses is orthogonal to 1e-6 too.
            let unit32 = p.unit.map(Double.init)
            XCTAssertLessThan(abs(dot(unit32, a)) / norm(a), 1e-6, "seed \(seed)")
        }
    }

    func testProjectedIsOrthogonalToTheHarmlessMean_Float() throws {
        try forEachSeed(20, base: 3) { seed, g in
            let d = Int.random(in: 2...400, using: &g)
            let (h, a) = means(d, &g)
            let hf = h.map { Float($0) }, af = a.map { Float($0) }
            let p = try RefusalDirection.projected(harmful: hf, harmless: af)
            let a64 = af.map(Double.init)
            XCTAssertLessThan(abs(dot(p.unit64, a64)) / norm(a64), 1e-6, "seed \(seed)")
        }
    }

    /// grimjim's biprojection: r″ = r′ − (r′·b̂)b̂, r′ the projected direction of the measurement layer,
    /// b̂ the unit harmless mean of the residual the target block reads. Checked against that formula
    /// written out here, for orthogonality to the target's harmless mean, and for being a sequence of two
    /// projections (r″ keeps a component along the measurement layer's â: it is not the projector onto
    /// the span of both means).
    func testBiprojectedIsProjectedThenProjectedAgainstTheTargetsHarmlessMean() throws {
        var keptAlongMeasured = 0
        try forEachSeed(20, base: 4) { seed, g in
            let d = Int.random(in: 3...300, using: &g)
            let (h, a) = means(d, &g)
            let target = zip(a, g.normals(d, scale: 0.5)).map { $0 + $1 }
            let b = try RefusalDirection.biprojected(harmful: h, harmless: a, targetHarmless: target, layer: 20, targetLayer: 5)
            XCTAssertEqual(b.method, .biprojected)
            let r = zip(h, a).map { $0 - $1 }
            let ahat = a.map { $0 / norm(a) }, bhat = target.map { $0 / norm(target) }
            let rp = zip(r, ahat).map { $0 - dot(r, ahat) * $1 }
            let expect = zip(rp, bhat).map { $0 - dot(rp, bhat) * $1 }
            XCTAssertLessThan(relativeDifference(b.vector, expect), 1e-12, "seed \(seed)")
            XCTAssertLessThan(abs(dot(b.unit64, target)) / norm(target), 1e-12, "seed \(seed)")
            let unit32 = b.unit.map(Double.init)
            XCTAssertLessThan(abs(dot(unit32, target)) / norm(target), 1e-6, "seed \(seed): the f32 unit the editor uses")
            // r″·â = −(r′·b̂)(b̂·â): the second projection brings back a component along â.
            let along = dot(b.vector, ahat)
            XCTAssertEqual(along, -dot(rp, bhat) * dot(bhat, ahat), accuracy: 1e-9 * norm(r), "seed \(seed)")
            if abs(along) > 1e-6 * b.norm { keptAlongMeasured += 1 }
        }
        XCTAssertGreaterThan(keptAlongMeasured, 15, "random target means leave r″ off the measured harmless mean's complement")
    }

    /// At the measurement layer (target mean = the measured harmless mean, or any positive multiple of it)
    /// biprojected is projected.
    func testBiprojectedEqualsProjectedAtTheMeasurementLayer() throws {
        try forEachSeed(20, base: 5) { seed, g in
            let d = Int.random(in: 2...300, using: &g)
            let (h, a) = means(d, &g)
            let p = try RefusalDirection.projected(harmful: h, harmless: a)
            for target in [a, a.map { 3 * $0 }] {
                let same = try RefusalDirection.biprojected(harmful: h, harmless: a, targetHarmless: target)
                XCTAssertLessThan(relativeDifference(same.unit64, p.unit64), 1e-12, "seed \(seed)")
                XCTAssertLessThan(relativeDifference(same.vector, p.vector), 1e-12, "seed \(seed)")
            }
        }
    }

    /// Measurements of `layers` blocks (residuals 0…layers), one random harmful and harmless vector each.
    func syntheticMeasurements(layers: Int, hiddenSize d: Int, seed: UInt64) throws
        -> (Measurements, harmful: [RunningMean], harmless: [RunningMean]) {
        var g = SeededGenerator(seed: seed)
        var harmful: [RunningMean] = [], harmless: [RunningMean] = []
        for _ in 0...layers {
            let (h, a) = means(d, &g)
            var mh = RunningMean(dimension: d), ma = RunningMean(dimension: d)
            try mh.add(h)
            try ma.add(a)
            harmful.append(mh)
            harmless.append(ma)
        }
        let metadata = MeasurementMetadata(
            model: "synthetic", adapter: nil, architecture: "llama", hiddenSize: d, layerCount: layers,
            harmfulCount: 1, harmlessCount: 1, winsorizeQuantile: 1, quantization: "none",
            chatTemplate: true, systemPrompt: nil)
        return (try Measurements(metadata: metadata, harmful: harmful, harmless: harmless), harmful, harmless)
    }

    /// `Measurements.direction(at:method:target:)` takes the target's harmless mean from residual index
    /// `target` (no target: the measurement index itself, i.e. projected).
    func testMeasurementsBiprojectAgainstTheTargetResidual() throws {
        let layers = 5
        let (m, harmful, harmless) = try syntheticMeasurements(layers: layers, hiddenSize: 24, seed: 6)
        let projected = try m.direction(at: 3, method: .projected)
        XCTAssertLessThan(relativeDifference(try m.direction(at: 3, method: .biprojected).unit64, projected.unit64), 1e-12)
        XCTAssertLessThan(relativeDifference(try m.direction(at: 3, method: .biprojected, target: 3).unit64, projected.unit64), 1e-12)
        for t in m.layers {
            let b = try m.direction(at: 3, method: .biprojected, target: t)
            let expect = try RefusalDirection.biprojected(
                harmful: harmful[3].mean, harmless: harmless[3].mean, targetHarmless: harmless[t].mean)
            XCTAssertEqual(b.unit64, expect.unit64, "target \(t)")
            XCTAssertLessThan(abs(dot(b.unit64, harmless[t].mean)) / norm(harmless[t].mean), 1e-12, "target \(t)")
        }
        XCTAssertThrowsError(try m.direction(at: 3, method: .biprojected, target: layers + 1)) {
            XCTAssertTrue("\($0)".contains("layer \(layers + 1) is outside"), "\($0)")
        }
    }

    /// At a fractional position p = k + t the direction is the method applied to the means interpolated
    /// between residuals k and k + 1; a whole p is the measured layer's direction exactly.
    func testFractionalPositionInterpolatesTheMeans() throws {
        let layers = 4
        let (m, harmful, harmless) = try syntheticMeasurements(layers: layers, hiddenSize: 16, seed: 7)
        for method in RefusalDirection.Method.allCases {
            XCTAssertEqual(try m.direction(at: 2.0, method: method).unit64, try m.direction(at: 2, method: method).unit64)
            let t = 0.3
            let h = zip(harmful[2].mean, harmful[3].mean).map { 0.7 * $0 + t * $1 }
            let a = zip(harmless[2].mean, harmless[3].mean).map { 0.7 * $0 + t * $1 }
            let expect: RefusalDirection
            switch method {
            case .conventional: expect = try .conventional(harmful: h, harmless: a)
            case .projected: expect = try .projected(harmful: h, harmless: a)
            case .biprojected: expect = try .biprojected(harmful: h, harmless: a, targetHarmless: harmless[1].mean)
            }
            let got = try m.direction(at: 2.3, method: method, target: 1)
            XCTAssertLessThan(relativeDifference(got.unit64, expect.unit64), 1e-12, "\(method)")
        }
        // Between the two measured directions: closer to each end as p approaches it.
        let r2 = try m.direction(at: 2, method: .projected).unit64, r3 = try m.direction(at: 3, method: .projected).unit64
        let near2 = try m.direction(at: 2.05, method: .projected).unit64, near3 = try m.direction(at: 2.95, method: .projected).unit64
        XCTAssertGreaterThan(dot(near2, r2), dot(near2, r3))
        XCTAssertGreaterThan(dot(near3, r3), dot(near3, r2))
        XCTAssertEqual(try m.direction(at: Double(layers), method: .projected).unit64, try m.direction(at: layers, method: .projected).unit64)
        for bad in [-0.5, Double(layers) + 0.5, .nan, .infinity] {
            XCTAssertThrowsError(try m.direction(at: bad, method: .projected)) {
                guard case AbliterationError.layerOutOfRange = $0 else { return XCTFail("\(bad): \($0)") }
            }
        }
    }

    func testDiagnosticsOfTheWriteUp() throws {
        var g = SeededGenerator(seed: 9)
        let d = 64
        var harmful = RunningMean(dimension: d), harmless = RunningMean(dimension: d)
        let (h, a) = means(d, &g)
        for _ in 0..<200 {
            try harmful.add(zip(h, g.normals(d, scale: 0.2)).map { $0 + $1 })
            try harmless.add(zip(a, g.normals(d, scale: 0.2)).map { $0 + $1 })
        }
        let diag = try RefusalDiagnostics(harmful: harmful, harmless: harmless, layer: 7)
        let r = zip(harmful.mean, harmless.mean).map { $0 - $1 }
        XCTAssertEqual(diag.layer, 7)
        XCTAssertEqual(diag.harmfulNorm, norm(harmful.mean), accuracy: 1e-12 * diag.harmfulNorm)
        XCTAssertEqual(diag.harmlessNorm, norm(harmless.mean), accuracy: 1e-12 * diag.harmlessNorm)
        XCTAssertEqual(diag.directionNorm, norm(r), accuracy: 1e-12 * norm(r))
        XCTAssertGreaterThan(diag.cosDirectionHarmful, 0)
        XCTAssertLessThan(diag.cosDirectionHarmless, 0)
        XCTAssertEqual(diag.cosDirectionHarmless, dot(r, harmless.mean) / (norm(r) * norm(harmless.mean)), accuracy: 1e-12)
        XCTAssertEqual(diag.cosHarmfulHarmless, dot(harmful.mean, harmless.mean) / (norm(harmful.mean) * norm(harmless.mean)), accuracy: 1e-12)
        // Fraction of ‖r‖ removed: 1 − √(1 − cos²(r, μ_A)).
        let c = diag.cosDirectionHarmless
        XCTAssertEqual(diag.projectionRemovedFraction, 1 - (1 - c * c).squareRoot(), accuracy: 1e-10)
        XCTAssertGreaterThan(diag.projectionRemovedFraction, 0)
        // Noise of 0.2 per component, a gap of ‖r′‖ ≈ several units: the classes separate by many σ.
        let sep = try XCTUnwrap(diag.separation)
        XCTAssertGreaterThan(sep, 10)
        let p = try RefusalDirection.make(.projected, harmful: harmful, harmless: harmless)
        XCTAssertEqual(sep, dot(r, p.unit64) / 0.2, accuracy: 0.15 * sep)
        XCTAssertNil(try RefusalDiagnostics(harmful: h, harmless: a).separation)
    }

    func testDegenerateInputsThrowTypedErrors() throws {
        func expect(_ kind: (String) -> AbliterationError, _ fragment: String, _ body: () throws -> Void) {
            XCTAssertThrowsError(try body()) { error in
                guard let e = error as? AbliterationError else { return XCTFail("untyped error \(error)") }
                XCTAssertTrue(e.description.contains(fragment), "\(e) lacks '\(fragment)'")
                XCTAssertEqual(e, kind(e.description), "wrong case: \(e)")
            }
        }
        expect(AbliterationError.dimensionMismatch, "layer 4: harmless mean has hidden size 2") {
            _ = try RefusalDirection.conventional(harmful: [1, 2, 3] as [Double], harmless: [1, 2], layer: 4)
        }
        expect(AbliterationError.degenerate, "harmless mean has zero norm") {
            _ = try RefusalDirection.projected(harmful: [1, 2] as [Double], harmless: [0, 0])
        }
        expect(AbliterationError.degenerate, "refusal direction is zero") {
            _ = try RefusalDirection.conventional(harmful: [1, 2] as [Double], harmless: [1, 2])
        }
        expect(AbliterationError.degenerate, "projected refusal direction is zero") {
            _ = try RefusalDirection.projected(harmful: [2, 4] as [Double], harmless: [1, 2])  // r ∥ μ_A
        }
        expect(AbliterationError.degenerate, "component 1 is nan") {
            _ = try RefusalDirection.conventional(harmful: [1, .nan] as [Double], harmless: [1, 2])
        }
        expect(AbliterationError.degenerate, "harmless mean component 0 is inf") {
            _ = try RefusalDirection.projected(harmful: [1, 1] as [Double], harmless: [.infinity, 2])
        }
        expect(AbliterationError.dimensionMismatch, "target harmless mean has hidden size 1") {
            _ = try RefusalDirection.biprojected(harmful: [1, 2] as [Double], harmless: [3, 1], targetHarmless: [1])
        }
        expect(AbliterationError.degenerate, "no vectors measured") {
            _ = try RefusalDirection.make(.conventional, harmful: RunningMean(dimension: 2), harmless: RunningMean(dimension: 2))
        }
        expect(AbliterationError.invalidInput, "harmless mean of the target block's input residual") {
            var m = RunningMean(dimension: 2)
            try m.add([1.0, 2.0])
            var n = RunningMean(dimension: 2)
            try n.add([2.0, 1.0])
            _ = try RefusalDirection.make(.biprojected, harmful: m, harmless: n)
        }
    }
}
