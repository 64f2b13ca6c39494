/// The llama.cpp converter's Q/K permutation, undone on rows.
///
/// The converter reshapes a weight (rows = heads·d) to (heads, 2, d/2, in), swaps axes 1 and 2
/// and flattens back: Hugging Face row h·d + s·d/2 + r sits at GGUF row h·d + 2r + s.
enum QueryKeyPermutation {
    /// For each Hugging Face row, the GGUF row holding it.
    static func ggufRowForHFRow(rows: Int, heads: Int) -> [Int] {
        let d = rows / heads, half = d / 2
        var map = [Int](repeating: 0, count: rows)
        for h in 0..<heads {
            for s in 0..<2 {
                for r in 0..<half { map[h * d + s * half + r] = h * d + 2 * r + s }
            }
        }
        return map
    }
}
