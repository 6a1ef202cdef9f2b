import Foundation

/// The processor a benchmark or a run ran on, as `bench` prints it and `finished.json` keeps it:
/// machines of the same kind differ in their vector extensions (AVX-512 or only AVX2), and oneDNN's
/// kernels, so timings differ with them.
public struct CPUDescription: CustomStringConvertible, Sendable {
    /// /proc/cpuinfo's "model name" (empty where the file is missing).
    public let model: String
    /// The widest vector extensions present, e.g. "avx512f avx512bw avx512vl avx512_vnni" or "avx2 fma".
    public let vectorExtensions: String

    public static let current = CPUDescription(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")

    /// Reads the first processor's model name and flags from /proc/cpuinfo's text.
    public init(cpuinfo: String) {
        func field(_ name: String) -> String {
            for line in cpuinfo.split(separator: "\n") where line.hasPrefix(name) {
                if let colon = line.firstIndex(of: ":") {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return ""
        }
        model = field("model name")
        let flags = Set(field("flags").split(separator: " ").map(String.init))
        let known = ["avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "avx2", "fma", "avx"]
        let avx512 = flags.contains("avx512f")
        vectorExtensions = known.filter { flags.contains($0) && (!avx512 || $0.hasPrefix("avx512") || $0.hasPrefix("amx")) }
            .joined(separator: " ")
    }

    public var description: String { "\(model.isEmpty ? "unknown CPU" : model) (\(vectorExtensions.isEmpty ? "no AVX" : vectorExtensions))" }
}
