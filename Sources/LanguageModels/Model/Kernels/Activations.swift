import Foundation

/// The gated MLP nonlinearities: h = act(gate) ⊙ up.
enum Activations {
    /// gate[i] ← silu(gate[i]) · up[i], silu(x) = x / (1 + e^(−x)).  (Llama, Qwen)
    static func siluGate(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = gate[i]
            gate[i] = x / (1 + expf(-x)) * up[i]
        }
    }

    /// gate[i] ← gelu_tanh(gate[i]) · up[i],
    /// gelu_tanh(x) = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).  (Gemma's `gelu_pytorch_tanh`)
    static func geluTanhGate(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        let k: Float = 0.7978845608028654  // √(2/π)
        for i in 0..<count {
            let x = gate[i]
            let inner = k * (x + 0.044715 * x * x * x)
            gate[i] = 0.5 * x * (1 + tanhf(inner)) * up[i]
        }
    }
}
