import Foundation
import AbliterationCore
import LanguageModels

/// Kullback–Leibler divergence between next-token distributions.
///
///     KL(P ‖ Q) = Σ_i p_i (log p_i − log q_i)
///
/// in nats, with terms where p_i = 0 contributing 0. Logits are turned into log-probabilities with a
/// max-subtracted log-sum-exp in Double, so large logits neither overflow nor lose the small tail.
public enum KLDivergence {
    /// log softmax(x)_i = (x_i − m) − log Σ_j exp(x_j − m), m = max_j x_j. Entries of −∞ (masked tokens) stay −∞.
    /// Throws on an empty vector, NaN, +∞, or all entries −∞.
    public static func logSoftmax(_ logits: [Float], name: String = "logits") throws -> [Double] {
        guard !logits.isEmpty else { throw AbliterationError.invalidInput("\(name): empty logit vector") }
        var m = -Double.infinity
        for (i, x) in logits.enumerated() {
            guard !x.isNaN, x != .infinity else {
                throw AbliterationError.degenerate("\(name): logit \(i) is \(x)")
            }
            m = max(m, Double(x))
        }
        guard m > -.infinity else { throw AbliterationError.degenerate("\(name): every logit is -inf") }
        // x − m is exact in Double for Float inputs; subtracting log Σ exp(x − m) from it (rather than
        // x − (m + log Σ)) keeps the result free of rounding at the magnitude of m.
        var sum = 0.0
        for x in logits { sum += exp(Double(x) - m) }
        let logSum = log(sum)
        return logits.map { (Double($0) - m) - logSum }
    }

    /// KL(P ‖ Q) from logits of P and Q over the same vocabulary.
    public static func fromLogits(_ p: [Float], _ q: [Float]) throws -> Double {
        guard p.count == q.count else {
            throw AbliterationError.dimensionMismatch("KL divergence: P has \(p.count) logits, Q has \(q.count)")
        }
        return try fromLogProbabilities(logSoftmax(p, name: "P logits"), logSoftmax(q, name: "Q logits"))
    }

    /// KL(P ‖ Q) from log-probabilities (natural log). +∞ when Q gives 0 probability where P does not.
    /// The inputs are taken as normalised; they are not renormalised here.
    public static func fromLogProbabilities(_ logP: [Double], _ logQ: [Double]) throws -> Double {
        guard logP.count == logQ.count else {
            throw AbliterationError.dimensionMismatch(
                "KL divergence: P has \(logP.count) log-probabilities, Q has \(logQ.count)")
        }
        guard !logP.isEmpty else { throw AbliterationError.invalidInput("KL divergence: empty distributions") }
        var kl = 0.0
        for i in 0..<logP.count {
            let lp = logP[i], lq = logQ[i]
            guard !lp.isNaN, !lq.isNaN, lp != .infinity, lq != .infinity else {
                throw AbliterationError.degenerate("KL divergence: log-probability \(i) is invalid (P \(lp), Q \(lq))")
            }
            if lp == -.infinity { continue }           // p_i = 0: the term is 0
            if lq == -.infinity { return .infinity }   // p_i > 0, q_i = 0
            kl += exp(lp) * (lp - lq)
        }
        // Σ p (log p − log q) ≥ 0 exactly; rounding can leave a tiny negative for identical inputs.
        return max(0, kl)
    }

    /// Mean of KL(P_k ‖ Q_k) over prompts k, each pair given as logits. Throws on an empty list.
    public static func meanFromLogits(_ pairs: [(p: [Float], q: [Float])]) throws -> Double {
        try mean(pairs) { try fromLogits($0.p, $0.q) }
    }

    /// Mean of KL(P_k ‖ Q_k) over prompts k, each pair given as log-probabilities.
    public static func meanFromLogProbabilities(_ pairs: [(p: [Double], q: [Double])]) throws -> Double {
        try mean(pairs) { try fromLogProbabilities($0.p, $0.q) }
    }

    /// The mean of `divergence` over `pairs`; an error is annotated with the prompt it came from.
    private static func mean<Pair>(_ pairs: [Pair], _ divergence: (Pair) throws -> Double) throws -> Double {
        guard !pairs.isEmpty else { throw AbliterationError.invalidInput("KL divergence: no prompts to average over") }
        var sum = 0.0
        for (k, pair) in pairs.enumerated() {
            do { sum += try divergence(pair) } catch let e as AbliterationError {
                throw annotate(e, prompt: k)
            }
        }
        return sum / Double(pairs.count)
    }

    private static func annotate(_ e: AbliterationError, prompt k: Int) -> AbliterationError {
        switch e {
        case .dimensionMismatch(let m): return .dimensionMismatch("prompt \(k): \(m)")
        case .degenerate(let m): return .degenerate("prompt \(k): \(m)")
        case .invalidInput(let m): return .invalidInput("prompt \(k): \(m)")
        default: return e
        }
    }
}
