import XCTest
@testable import TensorKit

final class BitsAndBytesTests: XCTestCase {
    func testCodeTables() {
        XCTAssertEqual(BitsAndBytes4Bit.nf4Table.count, 16)
        XCTAssertEqual(BitsAndBytes4Bit.nf4Table[7], 0)
        XCTAssertEqual(BitsAndBytes4Bit.nf4Table.first, -1)
        XCTAssertEqual(BitsAndBytes4Bit.nf4Table.last, 1)
        XCTAssertEqual(BitsAndBytes4Bit.nf4Table, BitsAndBytes4Bit.nf4Table.sorted())
        // bitsandbytes' printed FP4 table: 0, 0.0052, 0.6667, 1, 0.3333, 0.5, 0.1667, 0.25, then negatives.
        let fp4 = BitsAndBytes4Bit.fp4Table
        XCTAssertEqual(fp4.count, 16)
        XCTAssertEqual(fp4[3], 1)
        XCTAssertEqual(fp4[11], -1)
        XCTAssertEqual(fp4[5], 0.5)
        XCTAssertEqual(fp4[7], 0.25)
        XCTAssertEqual(fp4[1], 0.0052083333, accuracy: 1e-9)
        XCTAssertEqual(fp4[2], 2.0 / 3.0, accuracy: 1e-7)
    }

    func testParseQuantState() throws {
        let plain = try BitsAndBytes4Bit.QuantState.parse(json: Array(
            #"{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [1536, 576]}"#.utf8))
        XCTAssertEqual(plain, .init(quantType: .nf4, blockSize: 64, dtype: "bfloat16", shape: [1536, 576]))
        XCTAssertFalse(plain.isNested)
        let nested = try BitsAndBytes4Bit.QuantState.parse(json: Array(
            #"{"quant_type": "fp4", "blocksize": 64, "dtype": "float16", "shape": [8, 64], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0314}"#.utf8))
        XCTAssertEqual(nested.quantType, .fp4)
        XCTAssertEqual(nested.nestedBlockSize, 256)
        XCTAssertEqual(nested.nestedOffset, 0.0314)
        XCTAssertEqual(nested.nestedDType, "float32")
        for bad in [#"{"quant_type": "int8", "blocksize": 64, "shape": [2]}"#, #"{"quant_type": "nf4", "blocksize": 0, "shape": [2]}"#,
                    #"{"quant_type": "nf4", "blocksize": 64}"#, #"[1, 2]"#, "not json",
                    #"{"quant_type": "nf4", "blocksize": 64, "shape": [2], "nested_blocksize": 256}"#] {
            XCTAssertThrowsError(try BitsAndBytes4Bit.QuantState.parse(json: Array(bad.utf8), tensor: "w.quant_state")) {
                XCTAssertTrue("\($0)".contains("w.quant_state"), "\($0)")
            }
        }
    }

    /// NF4/FP4, plain and nested absmax, against numpy evaluations of bitsandbytes' formulas.
    func testDequantizeMatchesFixtures() throws {
        let fixture = try QuantFixtures.json("quant_bnb4.json")
        let cases = try XCTUnwrap(fixture["dequantize"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 4)
        var nestedSeen = 0
        for c in cases {
            let state = try BitsAndBytes4Bit.QuantState.parse(json: Array((c["quant_state"] as! String).utf8))
            let packed = QuantFixtures.bytes(c["packed"])
            let expected = QuantFixtures.floats(c["values"])
            let map = QuantFixtures.floats(c["quant_map"])
            XCTAssertEqual(map, state.quantType.table, "stored quant_map equals the built-in table")
            let absmax: BitsAndBytes4Bit.Absmax
            if state.isNested {
                nestedSeen += 1
                absmax = .nested(codes: QuantFixtures.bytes(c["absmax_u8"]), nestedAbsmax: QuantFixtures.floats(c["nested_absmax"]),
                                 nestedQuantMap: QuantFixtures.floats(c["nested_quant_map"]))
            } else {
                absmax = .float32(QuantFixtures.floats(c["absmax"]))
            }
            let w = try packed.withUnsafeBytes {
                try BitsAndBytes4Bit.dequantize(packed: $0, absmax: absmax, quantMap: map, state: state, tensor: "w")
            }
            XCTAssertEqual(w.shape, state.shape)
            assertWithinUlps(w.scalars, expected, "\(state.quantType) nested=\(state.isNested)")
            // Without the stored map the built-in table gives the same values.
            let w2 = try packed.withUnsafeBytes {
                try BitsAndBytes4Bit.dequantize(packed: $0, absmax: absmax, state: state)
            }
            XCTAssertEqual(w2.scalars, w.scalars)
        }
        XCTAssertEqual(nestedSeen, 2)
    }

    /// The StoredTensor entry point, as a safetensors checkpoint hands the components over.
    func testDequantizeFromStoredTensors() throws {
        let fixture = try QuantFixtures.json("quant_bnb4.json")
        let c = try XCTUnwrap((fixture["dequantize"] as? [[String: Any]])?.first { ($0["quant_state"] as! String).contains("nested") })
        func stored(_ name: String, _ dtype: DType, _ bytes: [UInt8]) -> StoredTensor {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
            buffer.copyBytes(from: bytes)
            return StoredTensor(name: name, type: .dense(dtype), shape: [bytes.count / dtype.byteSize],
                                bytes: UnsafeRawBufferPointer(rebasing: buffer[0..<bytes.count]), owner: nil)
        }
        let weight = stored("w", .u8, QuantFixtures.bytes(c["packed"]))
        let absmax = stored("w.absmax", .u8, QuantFixtures.bytes(c["absmax_u8"]))
        let map = stored("w.quant_map", .f32, QuantFixtures.bytes(c["quant_map"]))
        let nestedAbsmax = stored("w.nested_absmax", .f32, QuantFixtures.bytes(c["nested_absmax"]))
        let nestedMap = stored("w.nested_quant_map", .f32, QuantFixtures.bytes(c["nested_quant_map"]))
        let state = stored("w.quant_state.bitsandbytes__nf4", .u8, Array((c["quant_state"] as! String).utf8))
        let w = try BitsAndBytes4Bit.dequantize(weight: weight, absmax: absmax, quantMap: map, quantState: state,
                                                nestedAbsmax: nestedAbsmax, nestedQuantMap: nestedMap)
        assertWithinUlps(w.scalars, QuantFixtures.floats(c["values"]), "stored nested")
        XCTAssertThrowsError(try BitsAndBytes4Bit.dequantize(weight: weight, absmax: absmax, quantMap: map, quantState: state))
        for t in [weight, absmax, map, nestedAbsmax, nestedMap, state] {
            UnsafeMutableRawPointer(mutating: t.bytes.baseAddress!).deallocate()
        }
    }

    func testHighNibbleFirstAndSizeErrors() throws {
        // Bytes 0x7F, 0x0F: codes 7, 15, 0, 15 → NF4 0, 1, −1, 1 times absmax 2; 3 values (odd count).
        let state = BitsAndBytes4Bit.QuantState(quantType: .nf4, blockSize: 2, dtype: "float32", shape: [3])
        let w = try [UInt8]([0x7F, 0x0F]).withUnsafeBytes {
            try BitsAndBytes4Bit.dequantize(packed: $0, absmax: .float32([2, 3]), state: state)
        }
        XCTAssertEqual(w.scalars, [0, 2, -3])
        try [UInt8]([0x7F]).withUnsafeBytes { p in
            XCTAssertThrowsError(try BitsAndBytes4Bit.dequantize(packed: p, absmax: .float32([2, 3]), state: state))
        }
        try [UInt8]([0x7F, 0x0F]).withUnsafeBytes { p in
            XCTAssertThrowsError(try BitsAndBytes4Bit.dequantize(packed: p, absmax: .float32([2]), state: state))
            XCTAssertThrowsError(try BitsAndBytes4Bit.dequantize(packed: p, absmax: .float32([2, 3]), quantMap: [1, 2], state: state))
        }
    }
}
