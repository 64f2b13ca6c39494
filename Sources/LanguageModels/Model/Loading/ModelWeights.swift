import Foundation
import TensorKit

/// Bytes owned by the runtime (reordered Q/K rows, replaced bf16 weights), freed with the object.
final class OwnedBytes: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    init(count: Int) {
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
    }
    deinit { buffer.deallocate() }
}

/// The weights of a model by Hugging Face name, in Hugging Face layout (`[out, in]`, Q/K rows in
/// HF order), each kept in its stored type and widened to f32 only in scratch space while used.
///
/// Norm weights are used as *effective* f32 multipliers g (y = x̂ · g). For Gemma g = 1 + w: its GGUF
/// files store g, its Hugging Face checkpoints w (the runtime then adds the 1 in f32, as transformers
/// does). The public accessors (`float32`, `replace`, `forEachTensor`) speak Hugging Face's convention,
/// so for a Gemma GGUF they read w = g − 1.
public final class ModelWeights: @unchecked Sendable {
    enum Storage {
        case stored(StoredTensor)
        case dense([Float])
        case bitsAndBytes(BitsAndBytesWeight)
    }

    struct Entry {
        var shape: [Int]
        var storage: Storage
        /// The stored values are Hugging Face's w of a (1 + w) norm; the runtime adds the 1.
        var plusOneAtRuntime = false
    }

    /// Every tensor name, in model order (embedding, blocks, final norm, head).
    public let names: [String]
    private var entries: [String: Entry]
    /// Names whose values were changed after loading (`replace`, a LoRA merge).
    public private(set) var modifiedNames: Set<String> = []
    /// The name each tensor has in the Hugging Face checkpoint it was loaded from, prefixes kept (e.g.
    /// `language_model.model.layers.0.mlp.down_proj.weight` in a multimodal checkpoint); empty for a GGUF file.
    public let fileNames: [String: String]
    private let architecture: ModelArchitecture
    private let normPlusOne: Bool

    init(names: [String], entries: [String: Entry], architecture: ModelArchitecture, fileNames: [String: String] = [:]) {
        self.names = names
        self.entries = entries
        self.fileNames = fileNames
        self.architecture = architecture
        self.normPlusOne = architecture.definition.recipe.normPlusOne
    }

    func entry(_ name: String) throws -> Entry {
        guard let e = entries[name] else {
            throw ModelError.invalidInput("weight '\(name)' is not part of this \(architecture.rawValue) model")
        }
        return e
    }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// Shape, outermost first (`[out, in]` for a linear weight).
    public func shape(of name: String) throws -> [Int] { try entry(name).shape }

    /// How the tensor is held now: its file type, or dense f32 after a merge or a replacement.
    /// (A bitsandbytes 4-bit weight reports the `U8` of its packed codes; see `isBitsAndBytes4Bit`.)
    public func storageType(of name: String) throws -> StorageType {
        switch try entry(name).storage {
        case .stored(let t): return t.type
        case .dense: return .dense(.f32)
        case .bitsAndBytes: return .dense(.u8)
        }
    }

    /// Whether the weight is a bitsandbytes NF4/FP4 weight.
    public func isBitsAndBytes4Bit(_ name: String) throws -> Bool {
        if case .bitsAndBytes = try entry(name).storage { return true }
        return false
    }

    /// The stored tensor as read from the file (Hugging Face row order), nil once replaced or merged.
    public func storedTensor(_ name: String) throws -> StoredTensor? {
        if case .stored(let t) = try entry(name).storage { return t }
        return nil
    }

    /// Whether the stored values are g where Hugging Face has w = g − 1.
    private func storesEffectiveNorm(_ name: String, _ e: Entry) -> Bool {
        normPlusOne && architecture.isNormWeight(name) && !e.plusOneAtRuntime
    }

    /// The whole tensor as f32 in Hugging Face's convention.
    public func float32(_ name: String) throws -> Tensor<Float> {
        let e = try entry(name)
        let rows = e.shape.first ?? 1
        return try rowsFloat32(name, rows: 0..<rows)
    }

    /// Rows `rows` of the tensor (outermost index) as f32 in Hugging Face's convention.
    public func rowsFloat32(_ name: String, rows: Range<Int>) throws -> Tensor<Float> {
        let e = try entry(name)
        let rowCount = e.shape.first ?? 1
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw ModelError.invalidInput("weight '\(name)': rows \(rows) out of 0..<\(rowCount)")
        }
        let rowLength = e.shape.dropFirst().reduce(1, *)
        var out = [Float](repeating: 0, count: rows.count * rowLength)
        try out.withUnsafeMutableBufferPointer { try dequantizeRows(name, rows, into: $0.baseAddress!) }
        if storesEffectiveNorm(name, e) { for i in out.indices { out[i] -= 1 } }
        var shape = e.shape
        if shape.isEmpty { shape = [out.count] } else { shape[0] = rows.count }
        return try Tensor(shape: shape, scalars: out)
    }

    /// Replaces a weight with edited values (Hugging Face convention), kept as dense f32.
    public func replace(_ name: String, with tensor: Tensor<Float>) throws {
        defer { modifiedNames.insert(name) }
        let e = try entry(name)
        guard tensor.shape == e.shape || (e.shape.count == 1 && tensor.count == e.shape[0]) else {
            throw ModelError.dimensionMismatch("weight '\(name)': replacement shape \(tensor.shape) != \(e.shape)")
        }
        entries[name] = Entry(
            shape: e.shape, storage: .dense(tensor.scalars), plusOneAtRuntime: normPlusOne && architecture.isNormWeight(name))
    }

    /// Replaces a weight with edited bf16 values (Hugging Face convention), kept as bf16.
    public func replace(_ name: String, with tensor: Tensor<BFloat16>) throws {
        defer { modifiedNames.insert(name) }
        let e = try entry(name)
        guard tensor.shape == e.shape else {
            throw ModelError.dimensionMismatch("weight '\(name)': replacement shape \(tensor.shape) != \(e.shape)")
        }
        if e.shape.count == 1 {
            try replace(name, with: tensor.toF32())
            return
        }
        let owner = OwnedBytes(count: tensor.count * 2)
        tensor.scalars.withUnsafeBytes { owner.buffer.copyMemory(from: $0) }
        let stored = StoredTensor(
            name: name, type: .dense(.bf16), shape: e.shape,
            bytes: UnsafeRawBufferPointer(start: owner.buffer.baseAddress, count: tensor.count * 2), owner: owner)
        entries[name] = Entry(shape: e.shape, storage: .stored(stored))
    }

    /// Calls `body` with every tensor, in model order, by Hugging Face name and convention, as f32
    /// (Q/K in Hugging Face row order, Gemma norms as w). One tensor is widened at a time.
    public func forEachTensor(_ body: (String, Tensor<Float>) throws -> Void) throws {
        for name in names { try body(name, try float32(name)) }
    }

    // MARK: - Runtime access (effective convention)

    /// Widens rows of a weight into `destination` (effective convention: Gemma norms as 1 + w).
    func dequantizeRows(_ name: String, _ rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) throws {
        let e = try entry(name)
        let rowLength = e.shape.dropFirst().reduce(1, *)
        switch e.storage {
        case .stored(let t):
            try t.dequantizeRows(rows, into: destination)
        case .dense(let values):
            values.withUnsafeBufferPointer {
                destination.update(from: $0.baseAddress! + rows.lowerBound * rowLength, count: rows.count * rowLength)
            }
        case .bitsAndBytes(let w):
            w.dequantizeRows(rows, into: destination)
        }
    }

    /// A small vector (norm weight, bias) in the effective convention.
    func vector(_ name: String) throws -> [Float] {
        let e = try entry(name)
        switch e.storage {
        case .dense(let v): return e.plusOneAtRuntime ? v.map { 1 + $0 } : v
        case .stored(let t): return try t.toFloat32().scalars
        case .bitsAndBytes(let w):
            var out = [Float](repeating: 0, count: w.shape.reduce(1, *))
            out.withUnsafeMutableBufferPointer { w.dequantizeRows(0..<(w.shape.first ?? 1), into: $0.baseAddress!) }
            return out
        }
    }

    /// Calls `body` with the whole weight as row-major f32: dense weights directly, stored ones
    /// widened into `scratch` (grown as needed, reused across calls) on all threads.
    func withMatrix<R>(
        _ name: String, scratch: inout [Float], _ body: (UnsafePointer<Float>) throws -> R
    ) throws -> R {
        let e = try entry(name)
        switch e.storage {
        case .dense(let values):
            return try values.withUnsafeBufferPointer { try body($0.baseAddress!) }
        case .stored, .bitsAndBytes:
            let rows = e.shape.first ?? 1, rowLength = e.shape.dropFirst().reduce(1, *)
            let count = rows * rowLength
            if scratch.count < count { scratch = [Float](repeating: 0, count: count) }
            return try scratch.withUnsafeMutableBufferPointer { buffer in
                try LinearKernels.dequantizeParallel(self, name, rowCount: rows, rowLength: rowLength, into: buffer.baseAddress!)
                return try body(buffer.baseAddress!)
            }
        }
    }

    /// Stores a computed f32 tensor (LoRA merge) in the effective convention.
    func setDense(_ name: String, _ values: [Float]) throws {
        defer { modifiedNames.insert(name) }
        let e = try entry(name)
        precondition(values.count == e.shape.reduce(1, *))
        entries[name] = Entry(shape: e.shape, storage: .dense(values))
    }

    /// Approximate resident bytes of the weights (stored bytes for mapped tensors, 4 per f32 value).
    public var residentByteCount: Int {
        entries.values.reduce(0) { total, e in
            switch e.storage {
            case .stored(let t): return total + t.bytes.count
            case .dense(let v): return total + v.count * 4
            case .bitsAndBytes(let w): return total + w.packed.bytes.count + w.scales.count * 4
            }
        }
    }
}
