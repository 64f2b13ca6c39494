import Foundation
import XCTest
@testable import AbliterationCore
import TestSupport

final class LayerPlanTests: XCTestCase {
    func testParsesTheCLIForm() throws {
        let plan = try LayerPlan(parsing: "23:11-23, 29:24-41@0.8,5:7")
        XCTAssertEqual(plan.entries, [
            .init(measurementLayer: 23, targets: 11...23),
            .init(measurementLayer: 29, targets: 24...41, scale: 0.8),
            .init(measurementLayer: 5, targets: 7...7),
        ])
        XCTAssertEqual(plan.description, "23:11-23,29:24-41@0.8,5:7")
        XCTAssertEqual(try LayerPlan(parsing: plan.description), plan)
        XCTAssertEqual(plan.measurementLayers, [5, 23, 29])
        XCTAssertEqual(plan.targetLayers, [7] + Array(11...41))
        XCTAssertEqual(plan.entry(forTarget: 30)?.measurementLayer, 29)
        XCTAssertNil(plan.entry(forTarget: 42))
        try plan.validate(layerCount: 48)
    }

    func testDescriptionRoundTripsRandomPlans() throws {
        try forEachSeed(50, base: 41) { seed, g in
            var entries: [LayerPlan.Entry] = []
            var next = 0
            for _ in 0..<Int.random(in: 1...5, using: &g) {
                let a = next + Int.random(in: 0...3, using: &g), b = a + Int.random(in: 0...6, using: &g)
                let scale: Float = Bool.random(using: &g) ? 1 : Float.random(in: 0...2, using: &g)
                // Whole layers, and fractional ones at any Double (the printed form must parse back exactly).
                let m = Bool.random(using: &g) ? Double(Int.random(in: 0...40, using: &g)) : Double.random(in: 0...40, using: &g)
                entries.append(.init(measurementLayer: m, targets: a...b, scale: scale))
                next = b + 1
            }
            let plan = try LayerPlan(entries: entries)
            XCTAssertEqual(try LayerPlan(parsing: plan.description), plan, "seed \(seed): \(plan)")
            XCTAssertEqual(try LayerPlan(json: plan.jsonData()), plan, "seed \(seed)")
        }
    }

    func testJSON() throws {
        let text = #"{"entries": [{"measurementLayer": 23, "firstTarget": 11, "lastTarget": 23}, {"measurementLayer": 29, "firstTarget": 24, "lastTarget": 41, "scale": 0.8}]}"#
        let plan = try LayerPlan(json: Data(text.utf8))
        XCTAssertEqual(plan.description, "23:11-23,29:24-41@0.8")
        let bare = #"[{"measurementLayer": 3, "firstTarget": 0, "lastTarget": 2, "scale": 1.5}]"#
        XCTAssertEqual(try LayerPlan(json: Data(bare.utf8)).description, "3:0-2@1.5")
        let overlapping = #"[{"measurementLayer": 3, "firstTarget": 0, "lastTarget": 2}, {"measurementLayer": 4, "firstTarget": 2, "lastTarget": 5}]"#
        XCTAssertThrowsError(try LayerPlan(json: Data(overlapping.utf8))) { XCTAssertTrue("\($0)".contains("overlap"), "\($0)") }
        XCTAssertThrowsError(try LayerPlan(json: Data(("{\"entries\": " + overlapping + "}").utf8))) {
            XCTAssertTrue("\($0)".contains("'3:0-2' and '4:2-5' overlap"), "\($0)")
        }
        XCTAssertThrowsError(try LayerPlan(json: Data("{".utf8))) { XCTAssertTrue("\($0)".contains("layer plan JSON"), "\($0)") }
        let empty = #"[{"measurementLayer": 3, "firstTarget": 5, "lastTarget": 2}]"#
        XCTAssertThrowsError(try LayerPlan(json: Data(empty.utf8))) { XCTAssertTrue("\($0)".contains("empty span"), "\($0)") }
    }

    func testErrorsQuoteTheOffendingEntry() throws {
        func expectPlanError(_ text: String, _ fragments: [String]) {
            XCTAssertThrowsError(try LayerPlan(parsing: text), text) { error in
                guard case AbliterationError.invalidPlan(let m) = error else { return XCTFail("\(error)") }
                for f in fragments { XCTAssertTrue(m.contains(f), "'\(m)' lacks '\(f)'") }
            }
        }
        expectPlanError("", ["empty"])
        expectPlanError("23:11-23,", ["plan entry ''"])
        expectPlanError("23:11-x", ["'23:11-x'", "not FIRST-LAST"])
        expectPlanError("23-11", ["'23-11'", "':'"])
        expectPlanError("a:1-2", ["'a:1-2'", "not a number"])
        expectPlanError("nan:1-2", ["'nan:1-2'", "not a number"])
        expectPlanError("inf:1-2", ["'inf:1-2'", "not a number"])
        expectPlanError("0x1p3:1-2", ["'0x1p3:1-2'", "not a number"])
        expectPlanError("1e:1-2", ["'1e:1-2'", "not a number"])
        expectPlanError("-0.5:1-2", ["'-0.5:1-2'", "not negative"])
        expectPlanError("5:9-3", ["'5:9-3'", "empty span 9-3"])
        expectPlanError("5:1-3@x", ["'5:1-3@x'", "scale"])
        expectPlanError("5:1-3@inf", ["'5:1-3@inf'", "scale"])
        expectPlanError("5:-1-3", ["'5:-1-3'"])
        expectPlanError("23:11-23,29:20-41", ["'23:11-23'", "'29:20-41'", "overlap"])

        let plan = try LayerPlan(parsing: "23:11-23,49:24-41")
        XCTAssertThrowsError(try plan.validate(layerCount: 48)) { error in
            guard case AbliterationError.layerOutOfRange(let m) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("'49:24-41'") && m.contains("0...48"), m)
        }
        try LayerPlan(parsing: "48:0-47").validate(layerCount: 48)  // the last block's output is measurable
        XCTAssertThrowsError(try LayerPlan(parsing: "20:40-48").validate(layerCount: 48)) {
            XCTAssertTrue("\($0)".contains("'20:40-48'") && "\($0)".contains("0-47"), "\($0)")
        }
    }

    /// A fractional direction layer (between two residuals) parses, prints back as written, and is
    /// checked against the model's residual range like a whole one.
    func testFractionalMeasurementLayers() throws {
        let plan = try LayerPlan(parsing: "20.5:6-25@1.2, 27.25:26-29")
        XCTAssertEqual(plan.entries.map(\.measurementLayer), [20.5, 27.25])
        XCTAssertEqual(plan.description, "20.5:6-25@1.2,27.25:26-29")
        XCTAssertEqual(try LayerPlan(parsing: "21.0:6-25").description, "21:6-25")
        XCTAssertEqual(try LayerPlan(json: plan.jsonData()), plan)
        try plan.validate(layerCount: 30)
        try LayerPlan(parsing: "29.9:0-29").validate(layerCount: 30)
        XCTAssertThrowsError(try LayerPlan(parsing: "30.5:0-29").validate(layerCount: 30)) {
            XCTAssertTrue("\($0)".contains("measurement layer 30.5 is outside 0...30"), "\($0)")
        }
        XCTAssertEqual(LayerPlan.layerText(21), "21")
        XCTAssertEqual(LayerPlan.layerText(20.1), "20.1")
        // Very large and very small layers print with an exponent, and parse back (the fuzzer's finding:
        // 9223372036854775 printed as 9.223372036854775e+15 and was refused).
        for m in [9223372036854775.0, 1e-5, 1e300] {
            let p = try LayerPlan(entries: [.init(measurementLayer: m, targets: 0...1)])
            XCTAssertEqual(try LayerPlan(parsing: p.description), p, p.description)
        }
        XCTAssertEqual(try LayerPlan(parsing: "1e1:0-2").entries[0].measurementLayer, 10)
    }

    func testCommonPlans() throws {
        let all = try LayerPlan.allLayers(measurementLayer: 14, layerCount: 30, scale: 0.9)
        XCTAssertEqual(all.description, "14:0-29@0.9")
        XCTAssertThrowsError(try LayerPlan.allLayers(measurementLayer: 31, layerCount: 30))
    }

    /// The write-up's Gemma 3 12B plan, as its tooling lists it (grimjim's llm-abliteration
    /// `gemma3-12b-it.yml`: one entry per block, `layer` edited with the direction of residual
    /// `measurement`, scale 1.0), is the documented string `23:11-23,29:24-41`.
    func testTheWriteUpsGemma3PlanIsTheDocumentedString() throws {
        let perBlock = (11...23).map { ($0, 23) } + (24...41).map { ($0, 29) }
        let plan = try LayerPlan(parsing: "23:11-23,29:24-41")
        XCTAssertEqual(plan.targetLayers, perBlock.map(\.0))
        for (block, measurement) in perBlock {
            let entry = try XCTUnwrap(plan.entry(forTarget: block), "block \(block)")
            XCTAssertEqual(entry.measurementLayer, Double(measurement), "block \(block)")
            XCTAssertEqual(entry.scale, 1, "block \(block)")
        }
        XCTAssertNil(plan.entry(forTarget: 10))
        XCTAssertNil(plan.entry(forTarget: 42))
        try plan.validate(layerCount: 48)  // Gemma 3 12B: 48 blocks, residual indices 0...48
    }

    /// `@ATTN/MLP` gives the o_proj and down_proj edits their own scales; it prints back, round-trips
    /// through JSON (`mlpScale`, written only when it differs) and scales together.
    func testScaleMidpoint() throws {
        let a = try LayerPlan(parsing: "22:21@0.375,23:22@0.375"), b = try LayerPlan(parsing: "22:21@0.5,23:22@0.5")
        XCTAssertEqual(try a.scaleMidpoint(b)?.description, "22:21@0.4375,23:22@0.4375")
        XCTAssertEqual(try LayerPlan(parsing: "20.5:6-25@1/2").scaleMidpoint(LayerPlan(parsing: "20.5:6-25@2/1"))?.description,
                       "20.5:6-25@1.5")
        XCTAssertNil(try a.scaleMidpoint(LayerPlan(parsing: "22:21@0.5,23:23@0.5")), "another span")
        XCTAssertNil(try a.scaleMidpoint(LayerPlan(parsing: "21:21@0.5,23:22@0.5")), "another measurement layer")
        XCTAssertNil(try a.scaleMidpoint(LayerPlan(parsing: "22:21@0.5")), "another entry count")
    }

    func testSeparateAttentionAndMLPScales() throws {
        let plan = try LayerPlan(parsing: "21:6@0.4/0.6,21:7-9@0.812/1.1,22:10-12@1.25")
        XCTAssertEqual(plan.entries[0], .init(measurementLayer: 21, targets: 6...6, scale: 0.4, mlpScale: 0.6))
        XCTAssertEqual(plan.entries[1].mlpScale, 1.1)
        XCTAssertEqual(plan.entries[2].scale, 1.25)
        XCTAssertEqual(plan.entries[2].mlpScale, 1.25)
        XCTAssertEqual(plan.description, "21:6@0.4/0.6,21:7-9@0.812/1.1,22:10-12@1.25")
        XCTAssertEqual(try LayerPlan(parsing: plan.description), plan)
        let json = try plan.jsonData()
        XCTAssertEqual(try LayerPlan(json: json), plan)
        XCTAssertEqual(String(decoding: json, as: UTF8.self).components(separatedBy: "mlpScale").count - 1, 2)
        XCTAssertEqual(plan.entries[0].scaled(by: 2), .init(measurementLayer: 21, targets: 6...6, scale: 0.8, mlpScale: 1.2))
        // Equal scales print as one.
        XCTAssertEqual(try LayerPlan(parsing: "3:1-2@0.5/0.5").description, "3:1-2@0.5")
        XCTAssertEqual(try LayerPlan(parsing: "3:1-2@1/1").description, "3:1-2")
    }

    func testBadComponentScalesNameTheScale() {
        for (text, needle) in [("3:1-2@0.5/x", "MLP scale 'x' is not a finite number"),
                               ("3:1-2@/1", "attention scale '' is not a finite number"),
                               ("3:1-2@1/0", "MLP scale 0 must be greater than 0"),
                               ("3:1-2@1/2/3", "has more than one '/'"),
                               ("3:1-2@-1/2", "attention scale -1 must be greater than 0")] {
            XCTAssertThrowsError(try LayerPlan(parsing: text), text) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(needle), "\(text): \(message)")
                XCTAssertFalse(message.contains("\n"), "\(text): one line")
            }
        }
        XCTAssertThrowsError(try LayerPlan(json: Data(#"[{"measurementLayer": 3, "firstTarget": 1, "lastTarget": 2, "mlpScale": -1}]"#.utf8))) {
            XCTAssertTrue("\($0)".contains("MLP scale -1.0 must be greater than 0"), "\($0)")
        }
    }
}
