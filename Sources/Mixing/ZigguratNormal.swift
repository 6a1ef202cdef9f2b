#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Tensors

/// Standard normal draws by Marsaglia & Tsang's ziggurat (2000), 128 layers: one 32-bit word and a
/// table look-up for ~98.8% of draws, no transcendental function. The Gamma sampler's hot path; the
/// Box–Muller `RandomStream.nextNormal()` stays for everything else.
///
///     w = next word (as Int32);  i = w & 127 (the layer)
///     |w| < k[i]  ⇒  x = w · s[i]                          (inside the layer's rectangle)
///     else: i = 0 → the tail beyond r = 3.44262 (Marsaglia's exponential method),
///           otherwise accept x under the density's curve between layers i−1 and i.
enum Ziggurat {
    static let r = 3.442619855899

    /// k[i]: |w| threshold of the fast path; s[i]: word-to-x scale; f[i] = exp(−x_i²/2). Raw memory,
    /// allocated once for the process and never freed: reading it costs no reference counting.
    /// Unchecked: written only inside `tables`' one-time initialiser, read-only ever after.
    struct Tables: @unchecked Sendable {
        let k: UnsafePointer<UInt32>
        let s: UnsafePointer<Double>
        let f: UnsafePointer<Double>
    }

    static let tables: Tables = {
        let m1 = 2147483648.0, v = 9.91256303526217e-3
        var dn = r, tn = r
        let k = UnsafeMutablePointer<UInt32>.allocate(capacity: 128)
        let s = UnsafeMutablePointer<Double>.allocate(capacity: 128)
        let f = UnsafeMutablePointer<Double>.allocate(capacity: 128)
        let q = v / exp(-0.5 * dn * dn)
        k[0] = UInt32(dn / q * m1)
        k[1] = 0
        s[0] = q / m1
        s[127] = dn / m1
        f[0] = 1
        f[127] = exp(-0.5 * dn * dn)
        for i in stride(from: 126, through: 1, by: -1) {
            dn = (-2 * log(v / dn + exp(-0.5 * dn * dn))).squareRoot()
            k[i + 1] = UInt32(dn / tn * m1)
            tn = dn
            f[i] = exp(-0.5 * dn * dn)
            s[i] = dn / m1
        }
        return Tables(k: k, s: s, f: f)
    }()
}

extension UniformWords {
    /// A uniform draw in (0, 1) from one 32-bit word (never 0: logs stay finite).
    mutating func nextOpenUnit32() -> Double {
        (Double(nextUInt32()) + 0.5) * 0x1p-32
    }

    /// A standard normal draw by the ziggurat method (the Gamma sampler's; public for its tests).
    public mutating func nextSamplerNormal() -> Double { nextZigguratNormal(Ziggurat.tables) }

    /// A standard normal draw by the ziggurat method, with the tables passed in (hot loops fetch
    /// them once).
    @inline(__always)
    mutating func nextZigguratNormal(_ tables: Ziggurat.Tables) -> Double {
        var hz = Int32(bitPattern: nextUInt32())
        var iz = Int(hz & 127)
        if hz.magnitude < tables.k[iz] { return Double(hz) * tables.s[iz] }
        while true {
            if iz == 0 {
                // The tail |x| > r: x = −log(U₁)/r, accepted when −2 log(U₂) > x².
                var x = 0.0, y = 0.0
                repeat {
                    x = -log(nextOpenUnit32()) / Ziggurat.r
                    y = -log(nextOpenUnit32())
                } while y + y < x * x
                return hz > 0 ? Ziggurat.r + x : -Ziggurat.r - x
            }
            let x = Double(hz) * tables.s[iz]
            if tables.f[iz] + nextOpenUnit32() * (tables.f[iz - 1] - tables.f[iz]) < exp(-0.5 * x * x) { return x }
            hz = Int32(bitPattern: nextUInt32())
            iz = Int(hz & 127)
            if hz.magnitude < tables.k[iz] { return Double(hz) * tables.s[iz] }
        }
    }
}
