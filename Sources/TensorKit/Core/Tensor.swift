/// An element type a `Tensor` can hold.
public protocol TensorScalar: Sendable {
    /// The dtype this scalar is stored as in files.
    static var dtype: DType { get }
    static var zero: Self { get }
}

extension Float: TensorScalar {
    public static var dtype: DType { .f32 }
}
extension Double: TensorScalar {
    public static var dtype: DType { .f64 }
}
extension Float16: TensorScalar {
    public static var dtype: DType { .f16 }
}
extension BFloat16: TensorScalar {
    public static var dtype: DType { .bf16 }
    public static var zero: BFloat16 { BFloat16(bitPattern: 0) }
}
extension Int32: TensorScalar {
    public static var dtype: DType { .i32 }
}
extension Int64: TensorScalar {
    public static var dtype: DType { .i64 }
}
extension UInt8: TensorScalar {
    public static var dtype: DType { .u8 }
}

/// A dense, contiguous, row-major tensor whose element type is part of its type.
///
/// `shape` is outermost first: a Hugging Face linear weight `[out, in]` has `shape == [out, in]`
/// and element `(i, j)` at offset `i * in + j`. Storage is a copy-on-write Swift array, so copies
/// are cheap until written.
public struct Tensor<Scalar: TensorScalar>: Sendable {
    /// Sizes of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Scalar]

    /// A tensor over the given elements. Throws when the element count does not match the shape.
    public init(shape: [Int], scalars: [Scalar]) throws {
        guard shape.allSatisfy({ $0 >= 0 }), Tensor.elementCount(shape) == scalars.count else {
            throw TensorKitError.shapeMismatch(
                operation: "Tensor(shape:scalars:)",
                reason: "shape \(shape) needs \(Tensor.elementCount(shape) ?? -1) elements, got \(scalars.count)")
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.scalars = Array(repeating: Scalar.zero, count: shape.reduce(1, *))
    }

    /// The product of `shape`, or nil when a dimension is negative or the product of the non-zero
    /// dimensions overflows. Checking without the zeros means every partial product, taken in any
    /// order (a row length, the shape reversed), fits too: `[0, 2⁶², 2⁶²]` holds no elements but is
    /// refused, since its row length 2¹²⁴ does not exist.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var nonZero = 1
        for d in shape where d != 0 {
            guard d > 0 else { return nil }
            let (r, o) = nonZero.multipliedReportingOverflow(by: d)
            if o { return nil }
            nonZero = r
        }
        return shape.contains(0) ? 0 : nonZero
    }

    public var count: Int { scalars.count }
    public var rank: Int { shape.count }
    /// Size of the outermost dimension (1 for a scalar).
    public var rowCount: Int { shape.first ?? 1 }
    /// Elements per outermost index: the product of all but the first dimension.
    public var rowLength: Int { shape.dropFirst().reduce(1, *) }

    /// Row `i` (outermost index) as a view that shares storage.
    @inlinable public func row(_ i: Int) -> ArraySlice<Scalar> {
        let n = rowLength
        return scalars[(i * n)..<((i + 1) * n)]
    }

    /// Replaces row `i` with `values` (`values.count == rowLength`).
    public mutating func setRow<C: Collection>(_ i: Int, _ values: C) where C.Element == Scalar {
        let n = rowLength
        precondition(values.count == n, "row length \(values.count) != \(n)")
        scalars.replaceSubrange((i * n)..<((i + 1) * n), with: values)
    }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        try Tensor(shape: newShape, scalars: scalars)
    }

    /// Element at a multi-index.
    public subscript(_ index: Int...) -> Scalar {
        get { scalars[offset(index)] }
        set { scalars[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank \(index.count) != tensor rank \(shape.count)")
        var o = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of bounds for shape \(shape)")
            o = o * d + i
        }
        return o
    }
}

extension Tensor: Equatable where Scalar: Equatable {}
