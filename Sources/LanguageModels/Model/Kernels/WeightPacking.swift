import Dispatch
import TensorKit

/// Encoders that quantize a weight of `ModelWeights` in place of a round trip through f32: the weight is
/// widened a piece of rows at a time on all threads and each piece encoded into its slice of the output,
/// so the f32 copy of the whole weight never exists.
enum WeightPacking {
    /// Values per piece, about (the default): 4 MiB of f32 scratch per thread.
    static let pieceValues = 1 << 20

    /// Rows per piece: about `pieceValues` values, a multiple of the rows that make a whole number of
    /// `alignment`-value blocks (alignment / gcd(rowLength, alignment)), so every piece starts on a block.
    static func rowsPerPiece(rowLength: Int, alignment: Int, pieceValues: Int) -> Int {
        var a = rowLength, b = alignment
        while b != 0 { (a, b) = (b, a % b) }
        let step = alignment / max(a, 1)
        let wanted = max(1, pieceValues / max(rowLength, 1))
        return (wanted + step - 1) / step * step
    }

    /// Calls `body(rows, f32 values of those rows)` for consecutive pieces of `rowsPerPiece` rows, the
    /// pieces spread over the worker threads.
    static func forEachPiece(
        _ weights: ModelWeights, _ name: String, rows: Int, rowLength: Int, rowsPerPiece: Int,
        _ body: (Range<Int>, UnsafePointer<Float>) -> Void
    ) throws {
        let pieces = (rows + rowsPerPiece - 1) / rowsPerPiece
        guard pieces > 0 else { return }
        let n = min(LinearKernels.workers, pieces)
        let failure = FirstError()
        DispatchQueue.concurrentPerform(iterations: n) { w in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: rowsPerPiece * rowLength)
            defer { scratch.deallocate() }
            var p = w
            while p < pieces {
                let lo = p * rowsPerPiece, hi = min(rows, lo + rowsPerPiece)
                do { try weights.dequantizeRows(name, lo..<hi, into: scratch) } catch { failure.record(error); return }
                body(lo..<hi, scratch)
                p += n
            }
        }
        try failure.check()
    }

    /// bitsandbytes 4-bit codes of the flattened weight (rows, rowLength) into `packed` (⌈n/2⌉ bytes) and
    /// its per-block absmax into `absmax` (⌈n/blockSize⌉), byte for byte `Quantizer.fourBit` of the whole.
    /// `blockSize` must be even.
    static func fourBit(
        _ weights: ModelWeights, _ name: String, rows: Int, rowLength: Int, blockSize: Int, table: [Float],
        pieceValues: Int, packed: UnsafeMutablePointer<UInt8>, absmax: UnsafeMutablePointer<Float>
    ) throws {
        let step = rowsPerPiece(rowLength: rowLength, alignment: blockSize, pieceValues: pieceValues)
        try table.withUnsafeBufferPointer { code in
            try forEachPiece(weights, name, rows: rows, rowLength: rowLength, rowsPerPiece: step) { range, values in
                let first = range.lowerBound * rowLength  // a multiple of blockSize, so of 2
                Quantizer.fourBit(
                    values, count: range.count * rowLength, blockSize: blockSize, table: code.baseAddress!,
                    packed: packed + first / 2, absmax: absmax + first / blockSize)
            }
        }
    }

    /// GGML Q8_0 blocks of the weight (rows, rowLength), rowLength a multiple of 32, into `destination`
    /// (rows · rowLength / 32 · 34 bytes), byte for byte `Quantizer.q8_0` of the whole.
    static func q8_0(
        _ weights: ModelWeights, _ name: String, rows: Int, rowLength: Int, pieceValues: Int,
        into destination: UnsafeMutableRawPointer
    ) throws {
        precondition(rowLength % 32 == 0)
        let step = rowsPerPiece(rowLength: rowLength, alignment: 32, pieceValues: pieceValues)
        try forEachPiece(weights, name, rows: rows, rowLength: rowLength, rowsPerPiece: step) { range, values in
            GGMLQuantizer.quantizeQ8_0(
                values, destination + range.lowerBound * rowLength / 32 * 34, range.count * rowLength / 32)
        }
    }
}
