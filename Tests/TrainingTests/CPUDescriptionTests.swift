import RunOutputs
import XCTest

/// The processor as `bench` prints it and `finished.json` keeps it, from /proc/cpuinfo's text: on an
/// AVX-512 CPU only the AVX-512 (and AMX) extensions are named, on an AVX2 one AVX2, FMA and AVX.
final class CPUDescriptionTests: XCTestCase {
    func testNamesTheModelAndTheWidestVectorExtensions() {
        let xeon = """
            processor\t: 0
            model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
            flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512vl avx512_vnni amx_tile

            processor\t: 1
            model name\t: something else
            """
        XCTAssertEqual(CPUDescription(cpuinfo: xeon).description,
                       "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz (avx512f avx512bw avx512vl avx512_vnni amx_tile)")
        let epyc = "model name\t: AMD EPYC\nflags\t\t: fpu sse2 avx fma avx2 bmi2\n"
        XCTAssertEqual(CPUDescription(cpuinfo: epyc).description, "AMD EPYC (avx2 fma avx)")
        XCTAssertEqual(CPUDescription(cpuinfo: "").description, "unknown CPU (no AVX)")
    }
}
