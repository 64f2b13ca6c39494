import Foundation

/// Encoding throughput on one core: MB of UTF-8 English text per second.
package enum TokenizerBenchmark {
    package struct Result: Sendable, CustomStringConvertible {
        package let bytes: Int
        package let tokens: Int
        /// The first pass (empty word cache) and the best of the later passes.
        package let coldSeconds: Double
        package let bestSeconds: Double
        package var coldMegabytesPerSecond: Double { Double(bytes) / 1e6 / coldSeconds }
        package var megabytesPerSecond: Double { Double(bytes) / 1e6 / bestSeconds }

        package var description: String {
            String(format: "tokenizer encode: %.2f MB -> %d tokens, %.2f MB/s (first pass %.2f MB/s), one core",
                   Double(bytes) / 1e6, tokens, megabytesPerSecond, coldMegabytesPerSecond)
        }
    }

    /// About `bytes` bytes of English prose: a fixed passage whose sentences are shuffled and numbered
    /// deterministically, so the text is not one string repeated.
    package static func englishText(bytes: Int) -> String {
        let sentences = passage.split(separator: ".").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var out = ""
        out.reserveCapacity(bytes + 256)
        var state: UInt64 = 0x9E3779B97F4A7C15
        var n = 0
        while out.utf8.count < bytes {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let s = sentences[Int((state >> 33) % UInt64(sentences.count))]
            n += 1
            out += n % 7 == 0 ? "\(s), as noted in section \(n % 97).\n" : s + ". "
        }
        return out
    }

    /// Encodes `englishText(bytes:)` `repetitions` times with `tokenizer`.
    package static func run(_ tokenizer: Tokenizer, bytes: Int = 2_000_000, repetitions: Int = 3) -> Result {
        let text = englishText(bytes: bytes)
        var tokens = 0
        var times: [Double] = []
        for _ in 0..<max(1, repetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            tokens = tokenizer.encode(text).count
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Result(bytes: text.utf8.count, tokens: tokens, coldSeconds: times[0],
                      bestSeconds: times.count > 1 ? times.dropFirst().min()! : times[0])
    }

    private static let passage = """
    The history of the lighthouse is a history of people who decided that a dangerous coast should not \
    stay dangerous. Early keepers burned wood and coal in open fires, and the light they made was weak and \
    unsteady. In the eighteenth century oil lamps with polished reflectors replaced the fires, and a ship \
    could see the warning from several miles away. Then Augustin Fresnel designed a lens made of many rings \
    of glass, which bent the light into a single powerful beam. His idea spread quickly along the coasts of \
    Europe and America. Keepers lived in small houses beside the towers, trimming wicks, winding clockwork \
    and writing the weather in their logbooks every night. Storms sometimes cut them off from the mainland \
    for weeks. Children of keepers learned to row before they could read, and many of them became keepers \
    themselves. Today most lights are automatic, and the old towers are museums or homes for seabirds. Yet \
    sailors still look for the familiar flash when the fog comes in, because a light that has guided ships \
    for two hundred years is hard to forget. Scientists who study the sea use similar instruments to measure \
    waves, tides and the temperature of the water. They publish their results so that engineers can build \
    safer harbours and better ships. A good measurement, like a good light, is useful only if people can \
    trust it. That is why every instrument is checked against a reference before it goes to sea. When the \
    readings agree, the crew can plan the voyage with confidence and return home safely.
    """
}
