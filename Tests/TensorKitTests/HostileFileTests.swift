import Foundation
import XCTest
import TestSupport
@testable import TensorKit

/// Inputs that are not regular files, and hostile counts in the readers: each must fail at once with
/// an error naming the file (and key), never block, trap or allocate what the file declares.
final class HostileFileTests: XCTestCase {
    func testFIFOIsRefusedWithoutBlocking() throws {
        let path = temporaryPath("hostile.gguf")
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        defer { unlink(path) }
        for open in [{ _ = try MappedFile(path: path) }, { _ = try GGUFFile(path: path) },
                     { _ = try SafetensorsFile(path: path) }, { _ = try InputFile.contents(path) }] {
            let message = quickError { try open() }
            XCTAssertTrue(message.hasPrefix(path), message)
            XCTAssertTrue(message.contains("is a FIFO, not a regular file"), message)
        }
    }

    func testDirectoryAndDeviceAreRefused() throws {
        let directory = temporaryPath("hostile-dir")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        XCTAssertTrue(quickError { _ = try GGUFFile(path: directory) }.contains("\(directory): is a directory, not a regular file"))
        XCTAssertTrue(quickError { _ = try InputFile.contents("/dev/zero") }.contains("/dev/zero: is a character device"))
    }

    func testSafetensorsCheckpointWithAFIFOShard() throws {
        let directory = temporaryPath("hostile-checkpoint")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shard = (directory as NSString).appendingPathComponent("model.safetensors")
        XCTAssertEqual(mkfifo(shard, 0o600), 0)
        let message = quickError { _ = try SafetensorsCheckpoint(directory: directory) }
        XCTAssertTrue(message.contains("\(shard): is a FIFO"), message)
    }

    func testOversizedFileIsRefusedBeforeReading() throws {
        let path = temporaryPath("big.json")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(count: 4096)))
        defer { unlink(path) }
        let message = quickError { _ = try InputFile.contents(path, maxBytes: 1024) }
        XCTAssertTrue(message.contains("\(path): file is 4096 bytes, more than the 1024 allowed"), message)
    }

    /// A safetensors header declaring a dimension of -2^63 or a shape whose element count overflows.
    func testNegativeAndOverflowingSafetensorsShapes() throws {
        func file(shape: String) -> [UInt8] {
            var header = Array("{\"x\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,64]}}".utf8)
            while header.count % 8 != 0 { header.append(0x20) }
            var bytes: [UInt8] = []
            withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
            return bytes + header + [UInt8](repeating: 0, count: 64)
        }
        let path = temporaryPath("hostile.safetensors")
        defer { unlink(path) }
        for (shape, reason) in [("[-9223372036854775808,16]", "is not a non-negative integer"),
                                ("[9223372036854775807,16]", "overflows"),
                                ("[4611686018427387904,1]", "overflows"),
                                ("[0,4611686018427387904,4]", "overflows")] {
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(file(shape: shape))))
            let message = quickError { _ = try SafetensorsFile(path: path) }
            XCTAssertTrue(message.contains("\(path): tensor 'x'") && message.contains(reason), message)
        }
    }

    /// bitsandbytes quant states with sizes that are not Int-sized whole numbers.
    func testBitsAndBytesQuantStateHugeNumbers() throws {
        for json in [#"{"quant_type":"nf4","blocksize":1e300,"shape":[4,4]}"#,
                     #"{"quant_type":"nf4","blocksize":64,"shape":[1e300,4]}"#,
                     #"{"quant_type":"nf4","blocksize":64,"shape":[9223372036854775807,2]}"#,
                     #"{"quant_type":"nf4","blocksize":64,"shape":[4,4],"nested_blocksize":-1e300,"nested_offset":0}"#] {
            let message = quickError { _ = try BitsAndBytes4Bit.QuantState.parse(json: Array(json.utf8), tensor: "w.quant_state") }
            XCTAssertTrue(message.contains("w.quant_state: bitsandbytes quant state"), message)
        }
    }
}
