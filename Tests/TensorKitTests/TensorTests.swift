import XCTest
@testable import TensorKit

final class TensorTests: XCTestCase {
    func testShapeMustMatchElementCount() {
        XCTAssertThrowsError(try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3]))
        XCTAssertNoThrow(try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]))
    }

    func testRowViews() throws {
        let t = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(Array(t.row(1)), [4, 5, 6])
        XCTAssertEqual(t[1, 2], 6)
        XCTAssertEqual(t.rowLength, 3)
    }

    func testMatmulAllTransposes() throws {
        // A (2, 3), B (3, 2)
        let a = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = try Tensor<Float>(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        let expected: [Float] = [58, 64, 139, 154]
        XCTAssertEqual(try Tensor.matmul(a, b).scalars, expected)
        XCTAssertEqual(try Tensor.matmul(a.transposed(), b, transposeA: true).scalars, expected)
        XCTAssertEqual(try Tensor.matmul(a, b.transposed(), transposeB: true).scalars, expected)
        XCTAssertEqual(try Tensor.matmul(a.transposed(), b.transposed(), transposeA: true, transposeB: true).scalars, expected)
        XCTAssertThrowsError(try Tensor.matmul(a, a))
    }

    func testMatvec() throws {
        let a = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try Tensor.matvec(a, [1, 0, -1]), [-2, -2])
        XCTAssertEqual(try Tensor.matvec(a, [1, -1], transpose: true), [-3, -3, -3])
    }
}
