import Foundation

extension LanguageModel {
    /// Scales the input x (rows, count) of (`layer`, `writer`) by the edit's column scales, if it has
    /// any (a norm-preserving edit), before the linear layer. Called from the forward pass under `lock`.
    func scaleWriteInput(_ layer: Int, _ writer: ResidualWriter, _ x: UnsafeMutablePointer<Float>, rows: Int, count: Int) {
        guard let k = residualEdit?.projection(layer: layer, writer: writer)?.inputScales else { return }
        k.withUnsafeBufferPointer { kp in
            for r in 0..<rows {
                let row = x + r * count
                for j in 0..<count { row[j] *= kp[j] }
            }
        }
    }

    /// Applies the residual write edit, if it has a projection for (`layer`, `writer`), to that write's
    /// output `y` (rows, hidden), before the block's output norm. Called from the forward pass under `lock`.
    func editWrite(_ layer: Int, _ writer: ResidualWriter, _ y: UnsafeMutablePointer<Float>, rows: Int) {
        guard let p = residualEdit?.projection(layer: layer, writer: writer) else { return }
        if let scaling = p.rows {
            scaling.gains.withUnsafeBufferPointer { g in
                scaling.reading.withUnsafeBufferPointer { a in
                    scaling.writing.withUnsafeBufferPointer { v in
                        VectorKernels.scaleAndRemoveComponent(
                            gains: g.baseAddress!, reading: a.baseAddress!, writing: v.baseAddress!, scale: p.scale,
                            from: y, rows: rows, count: configuration.hiddenSize)
                    }
                }
            }
            return
        }
        p.direction.withUnsafeBufferPointer { u in
            VectorKernels.removeComponent(u.baseAddress!, scale: p.scale, from: y, rows: rows, count: configuration.hiddenSize)
        }
    }
}
