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
/// A linear weight of the blocks may carry a LoRA update kept apart from it (`LowRankUpdate`): its
/// value is W + s·B·A, the forward pass computes Wx + s·B(Ax), and the public accessors (`float32`,
/// `rowsFloat32`, `forEachTensor`) merge it into the rows they return, so a writer sees the merged weight.
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
        /// A LoRA update on top of the stored W (block linear weights only).
        var lowRank: LowRankUpdate?
    }

    /// The entries of some weights as they were, to put back later (`snapshot(_:)`, `restore(_:)`).
    public struct Snapshot: @unchecked Sendable {
        fileprivate let entries: [String: Entry]
        fileprivate let changed: Set<String>
    }

    /// Every tensor name, in model order (embedding, blocks, final norm, head).
    public let names: [String]
    private var entries: [String: Entry]
    /// Names whose values were changed after loading (`replace`, `quantize`, a merged LoRA adapter).
    private var changedNames: Set<String> = []
    /// Names whose values differ from the file's: changed after loading, or carrying a LoRA update.
    public var modifiedNames: Set<String> {
        changedNames.union(entries.compactMap { $0.value.lowRank == nil ? nil : $0.key })
    }
    /// The name each tensor has in the Hugging Face checkpoint it was loaded from, prefixes kept (e.g.
    /// `language_model.model.layers.0.mlp.down_proj.weight` in a multimodal checkpoint); empty for a GGUF file.
    public let fileNames: [String: String]
    private let architecture: ModelArchitecture
    private let normPlusOne: Bool

    /// Whether the blocks' stored weights were marked as read front to back (`MappedFile.adviseSequential`),
    /// so that the kernel keeps reading them ahead when they cannot all stay in the page cache from one
    /// forward pass to the next. On when the stored weights exceed half the physical memory;
    /// `ABLITERATE_SEQUENTIAL=0` or `=1` decides instead.
    public let readsBlocksSequentially: Bool

    init(names: [String], entries: [String: Entry], architecture: ModelArchitecture, fileNames: [String: String] = [:]) {
        self.names = names
        self.entries = entries
        self.fileNames = fileNames
        self.architecture = architecture
        self.normPlusOne = architecture.definition.recipe.normPlusOne
        var storedBytes = 0
        for case .stored(let t) in entries.values.map(\.storage) { storedBytes += t.bytes.count }
        switch ProcessInfo.processInfo.environment["ABLITERATE_SEQUENTIAL"] {
        case "0": readsBlocksSequentially = false
        case "1": readsBlocksSequentially = true
        default: readsBlocksSequentially = UInt64(storedBytes) > ProcessInfo.processInfo.physicalMemory / 2
        }
        if readsBlocksSequentially {
            for name in names where name.hasPrefix("model.layers.") {
                if case .stored(let t)? = entries[name]?.storage { MappedFile.adviseSequential(t.bytes) }
            }
        }
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
    /// (A bitsandbytes 4-bit weight reports the `U8` of its packed codes; see `isBitsAndBytes4Bit`.
    /// A LoRA update kept beside the weight does not change it; see `hasLowRankUpdate`.)
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

    /// The stored tensor as read from the file (Hugging Face row order), nil once replaced or merged,
    /// or while a LoRA update is kept beside it.
    public func storedTensor(_ name: String) throws -> StoredTensor? {
        let e = try entry(name)
        if case .stored(let t) = e.storage, e.lowRank == nil { return t }
        return nil
    }

    /// Whether the weight holds its values as read from the file: not replaced, merged or quantized since,
    /// and no LoRA update beside it.
    func isAsLoaded(_ name: String) -> Bool { !changedNames.contains(name) && entries[name]?.lowRank == nil }

    /// Whether a LoRA update is kept beside the weight (its value is W + s·B·A).
    public func hasLowRankUpdate(_ name: String) throws -> Bool { try entry(name).lowRank != nil }

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

    /// Rows `rows` of the tensor (outermost index) as f32 in Hugging Face's convention, a LoRA update
    /// merged in: W[rows] + s·B[rows]·A, with one sgemm (the whole tensor's is the sgemm a merge at load made).
    public func rowsFloat32(_ name: String, rows: Range<Int>) throws -> Tensor<Float> {
        let e = try entry(name)
        let rowCount = e.shape.first ?? 1
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw ModelError.invalidInput("weight '\(name)': rows \(rows) out of 0..<\(rowCount)")
        }
        let rowLength = e.shape.dropFirst().reduce(1, *)
        var out = [Float](repeating: 0, count: rows.count * rowLength)
        try out.withUnsafeMutableBufferPointer { try dequantizeRows(name, rows, into: $0.baseAddress!) }
        if let update = e.lowRank, !rows.isEmpty {
            out.withUnsafeMutableBufferPointer { LinearKernels.addLowRankRows(update, rows: rows, into: $0.baseAddress!) }
        }
        if storesEffectiveNorm(name, e) { for i in out.indices { out[i] -= 1 } }
        var shape = e.shape
        if shape.isEmpty { shape = [out.count] } else { shape[0] = rows.count }
        return try Tensor(shape: shape, scalars: out)
    }

    /// Replaces a weight with edited values (Hugging Face convention), kept as dense f32. A LoRA update
    /// kept beside it is dropped: the replacement is the whole weight.
    public func replace(_ name: String, with tensor: Tensor<Float>) throws {
        defer { changedNames.insert(name) }
        let e = try entry(name)
        guard tensor.shape == e.shape || (e.shape.count == 1 && tensor.count == e.shape[0]) else {
            throw ModelError.dimensionMismatch("weight '\(name)': replacement shape \(tensor.shape) != \(e.shape)")
        }
        entries[name] = Entry(
            shape: e.shape, storage: .dense(tensor.scalars), plusOneAtRuntime: normPlusOne && architecture.isNormWeight(name))
    }

    /// Replaces a weight with edited bf16 values (Hugging Face convention), kept as bf16 (a LoRA update
    /// beside it dropped).
    public func replace(_ name: String, with tensor: Tensor<BFloat16>) throws {
        defer { changedNames.insert(name) }
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
    /// (Q/K in Hugging Face row order, Gemma norms as w, LoRA updates merged). One tensor is widened at a time.
    public func forEachTensor(_ body: (String, Tensor<Float>) throws -> Void) throws {
        for name in names { try body(name, try float32(name)) }
    }

    /// The current entries of `names`, to be put back with `restore(_:)` (nothing is copied: the
    /// storage is shared until an entry is replaced).
    public func snapshot(_ names: [String]) throws -> Snapshot {
        var saved: [String: Entry] = [:]
        for name in names { saved[name] = try entry(name) }
        return Snapshot(entries: saved, changed: changedNames.intersection(names))
    }

    /// Puts back the entries of a snapshot, storage, LoRA update and modified state as they were.
    public func restore(_ snapshot: Snapshot) {
        for (name, e) in snapshot.entries {
            entries[name] = e
            if snapshot.changed.contains(name) { changedNames.insert(name) } else { changedNames.remove(name) }
        }
    }

    // MARK: - LoRA updates and packed quantization

    /// Whether `name` is a linear weight of a block (`model.layers.N.….*_proj.weight`), the weights the
    /// forward pass multiplies through `LanguageModel.linear` and so can carry a LoRA update unmerged.
    public static func isBlockLinear(_ name: String) -> Bool {
        name.hasPrefix("model.layers.") && name.hasSuffix("_proj.weight")
    }

    /// Keeps a LoRA update beside a block linear weight W (out, in): its value becomes W + scale·B·A, for
    /// A (r, in) and B (out, r). Throws for other weights and mismatched shapes.
    func attachLowRank(_ name: String, a: Tensor<Float>, b: Tensor<Float>, scale: Float) throws {
        var e = try entry(name)
        guard Self.isBlockLinear(name), e.shape.count == 2 else {
            throw ModelError.invalidInput("weight '\(name)': a LoRA update is kept only beside a block's linear weight")
        }
        guard a.rank == 2, b.rank == 2, a.shape[0] == b.shape[1], b.shape[0] == e.shape[0], a.shape[1] == e.shape[1] else {
            throw ModelError.dimensionMismatch("weight '\(name)' \(e.shape): LoRA B \(b.shape) · A \(a.shape) does not match")
        }
        e.lowRank = LowRankUpdate(a: a.scalars, b: b.scalars, rank: a.shape[0], scale: scale)
        entries[name] = e
    }

    /// The LoRA update kept beside a weight, if any.
    func lowRank(_ name: String) throws -> LowRankUpdate? { try entry(name).lowRank }

    /// Re-stores a linear weight W (out, in) quantized, kept packed and widened by rows when used
    /// (`WeightQuantization` says how and what the forward pass then sees). Only the stored W is
    /// quantized: a LoRA update beside it stays in f32, as QLoRA keeps it. The weight is read and encoded
    /// a block of rows at a time on all threads, so no f32 copy of it is made.
    public func quantize(_ name: String, as format: WeightQuantization) throws {
        try quantize(name, as: format, pieceValues: WeightPacking.pieceValues)
    }

    /// `quantize(_:as:)` encoding pieces of about `pieceValues` values per thread.
    func quantize(_ name: String, as format: WeightQuantization, pieceValues: Int) throws {
        let e = try entry(name)
        guard e.shape.count == 2, !architecture.isNormWeight(name) else {
            throw ModelError.invalidInput("weight '\(name)' \(e.shape) is not a linear weight to quantize")
        }
        let rows = e.shape[0], rowLength = e.shape[1]
        let (n, overflow) = rows.multipliedReportingOverflow(by: rowLength)
        guard !overflow else { throw ModelError.invalidInput("weight '\(name)': shape \(e.shape) overflows") }
        let storage: Storage
        switch format {
        case let .fourBit(quantType, blockSize, doubleQuant):
            guard blockSize > 0, blockSize % 2 == 0 else {
                throw ModelError.invalidInput("4-bit quantization: block size \(blockSize) must be positive and even")
            }
            let owner = OwnedBytes(count: (n + 1) / 2)
            var absmax = [Float](repeating: 0, count: (n + blockSize - 1) / blockSize)
            try absmax.withUnsafeMutableBufferPointer { scales in
                try WeightPacking.fourBit(
                    self, name, rows: rows, rowLength: rowLength, blockSize: blockSize, table: quantType.table,
                    pieceValues: pieceValues,
                    packed: owner.buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), absmax: scales.baseAddress!)
            }
            var state = BitsAndBytes4Bit.QuantState(quantType: quantType, blockSize: blockSize, dtype: "float32", shape: e.shape)
            var scales = absmax
            if doubleQuant {
                let nested = try Quantizer.doubleQuantize(absmax: absmax)
                state.nestedBlockSize = nested.blockSize
                state.nestedOffset = nested.offset
                state.nestedDType = "float32"
                scales = BitsAndBytes4Bit.nestedAbsmax(
                    codes: nested.codes, nestedAbsmax: nested.nestedAbsmax, nestedQuantMap: BitsAndBytes4Bit.dynamicMap,
                    nestedBlockSize: nested.blockSize, offset: nested.offset)
            }
            let packed = StoredTensor(
                name: name, type: .dense(.u8), shape: [(n + 1) / 2],
                bytes: UnsafeRawBufferPointer(start: owner.buffer.baseAddress, count: (n + 1) / 2), owner: owner)
            storage = .bitsAndBytes(BitsAndBytesWeight(
                name: name, packed: packed, scales: scales, table: quantType.table, state: state))
        case .q8_0:
            if rowLength % 32 != 0 {
                // Q8_0 blocks would straddle rows: keep the round trip's values dense, as a whole-tensor encoding gives them.
                storage = .dense(try Quantizer.q8_0RoundTrip(try float32(name).scalars))
                break
            }
            let byteCount = n / 32 * 34
            let owner = OwnedBytes(count: byteCount)
            try WeightPacking.q8_0(
                self, name, rows: rows, rowLength: rowLength, pieceValues: pieceValues, into: owner.buffer.baseAddress!)
            storage = .stored(StoredTensor(
                name: name, type: .ggml(.q8_0), shape: e.shape,
                bytes: UnsafeRawBufferPointer(start: owner.buffer.baseAddress, count: byteCount), owner: owner))
        }
        entries[name] = Entry(shape: e.shape, storage: storage, lowRank: e.lowRank)
        changedNames.insert(name)
    }

    // MARK: - Runtime access (effective convention)

    /// Widens rows of the stored weight into `destination` (effective convention: Gemma norms as 1 + w;
    /// a LoRA update beside it not included).
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

    /// Calls `body` with the whole stored weight as row-major f32: dense weights directly, stored ones
    /// widened into `scratch` (grown as needed, reused across calls) on all threads. A LoRA update beside
    /// the weight is left out, or with `mergingLowRank` merged into the scratch copy (W + s·B·A, the
    /// sgemm of `LinearKernels.addLowRankRows` over all rows).
    func withMatrix<R>(
        _ name: String, scratch: inout [Float], mergingLowRank: Bool = false, _ body: (UnsafePointer<Float>) throws -> R
    ) throws -> R {
        let e = try entry(name)
        if mergingLowRank, let update = e.lowRank {
            let rows = e.shape.first ?? 1, rowLength = e.shape.dropFirst().reduce(1, *)
            if scratch.count < rows * rowLength { scratch = [Float](repeating: 0, count: rows * rowLength) }
            return try scratch.withUnsafeMutableBufferPointer { buffer in
                try LinearKernels.dequantizeParallel(self, name, rowCount: rows, rowLength: rowLength, into: buffer.baseAddress!)
                LinearKernels.addLowRankRows(update, rows: 0..<rows, into: buffer.baseAddress!)
                return try body(buffer.baseAddress!)
            }
        }
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
        defer { changedNames.insert(name) }
        let e = try entry(name)
        precondition(values.count == e.shape.reduce(1, *))
        entries[name] = Entry(shape: e.shape, storage: .dense(values))
    }

    /// Approximate resident bytes of the weights (stored bytes for mapped tensors, 4 per f32 value,
    /// LoRA factors included).
    public var residentByteCount: Int {
        entries.values.reduce(0) { total, e in
            let update = e.lowRank.map { ($0.a.count + $0.b.count) * 4 } ?? 0
            switch e.storage {
            case .stored(let t): return total + update + t.bytes.count
            case .dense(let v): return total + update + v.count * 4
            case .bitsAndBytes(let w): return total + update + w.packed.bytes.count + w.scales.count * 4
            }
        }
    }
}
