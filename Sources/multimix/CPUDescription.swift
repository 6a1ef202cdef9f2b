import Foundation

/// The processor a benchmark ran on, as `bench` prints it: machines of the same kind differ in their
/// vector extensions (AVX-512 or only AVX2), and oneDNN's kernels, so figures differ with them.
struct CPUDescription: CustomStringConvertible {
    /// /proc/cpuinfo's "model name" (empty where the file is missing).
    let model: String
    /// The widest vector extensions present, e.g. "avx512f avx512bw avx512vl avx512_vnni" or "avx2 fma".
    let vectorExtensions: String

    static let current = CPUDescription(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")

    /// Reads the first processor's model name and flags from /proc/cpuinfo's text.
    init(cpuinfo: String) {
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

    var description: String { "\(model.isEmpty ? "unknown CPU" : model) (\(vectorExtensions.isEmpty ? "no AVX" : vectorExtensions))" }
}
