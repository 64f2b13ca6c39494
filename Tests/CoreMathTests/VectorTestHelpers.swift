/// Small vector helpers shared by the core-math tests.

func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
    var num = 0.0, den = 0.0
    for i in a.indices {
        num = max(num, abs(a[i] - b[i]))
        den = max(den, abs(a[i]), abs(b[i]))
    }
    return den == 0 ? num : num / den
}

func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
