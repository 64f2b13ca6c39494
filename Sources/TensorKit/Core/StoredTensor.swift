/// A tensor as it lies in a file (safetensors or GGUF): its storage type, its shape and a view of
/// its bytes, without copying. The view stays valid as long as the `StoredTensor` exists.
///
/// `shape` is always outermost first (row-major), whatever the file's convention: a GGUF tensor with
/// dims `[in, out]` (innermost first) has `shape == [out, in]`, the Hugging Face layout.
public struct StoredTensor: @unchecked Sendable {
    public let name: String
    public let type: StorageType
    public let shape: [Int]
    /// The raw bytes, exactly `type.byteCount(elements: elementCount)` of them.
    public let bytes: UnsafeRawBufferPointer
    /// Keeps the memory behind `bytes` alive (a `MappedFile`, or an owned buffer).
    public let owner: AnyObject?

    public init(name: String, type: StorageType, shape: [Int], bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        self.name = name
        self.type = type
        self.shape = shape
        self.bytes = bytes
        self.owner = owner
    }

    public var elementCount: Int { shape.reduce(1, *) }
    /// Size of the outermost dimension (1 for a scalar).
    public var rowCount: Int { shape.first ?? 1 }
    /// Elements per row: the product of all but the first dimension.
    public var rowLength: Int { shape.dropFirst().reduce(1, *) }
    /// Bytes per row (a row of a quantized tensor is a whole number of blocks).
    public var rowByteCount: Int { type.byteCount(elements: rowLength) ?? 0 }

    /// Dequantizes or widens rows `rows` into `destination`, which holds `rows.count * rowLength` floats.
    public func dequantizeRows(_ rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) throws {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= rowCount, "rows \(rows) out of 0..<\(rowCount) in \(name)")
        let start = bytes.baseAddress! + rows.lowerBound * rowByteCount
        try Dequantization.dequantize(
            type, source: start, count: rows.count * rowLength, into: destination, tensor: name)
    }

    /// The whole tensor as f32.
    public func toFloat32() throws -> Tensor<Float> {
        var out = [Float](repeating: 0, count: elementCount)
        if elementCount > 0 {
            try out.withUnsafeMutableBufferPointer { try dequantizeRows(0..<rowCount, into: $0.baseAddress!) }
        }
        return try Tensor(shape: shape, scalars: out)
    }
}
