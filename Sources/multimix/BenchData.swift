import ArgumentParser
import Datasets
import Dispatch
import Foundation
import RunOutputs
import Tensors

extension Multimix {
    /// `multimix bench data`: the image-folder pipeline's speed, image by image, as a data loader
    /// worker runs it (read, decode, crop, resize, flip, normalise into a batch buffer).
    struct BenchData: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "data",
            abstract: "Images per second per core through the image-folder pipeline (decode and transform).",
            discussion: """
                Reads the first --limit .jpg/.jpeg/.png files below --root (sorted by path, as \
                ../shared/reference/bench_decode.py does), --rounds times, and prints the median rate. \
                --mode train: random resized crop (scale [0.08, 1], ratio [3/4, 4/3]) + flip; eval: \
                shorter side to size·256/224, centre crop. --workers N runs N decoding threads \
                (images_per_second_per_core divides by N). launch/bench/data.sh runs it side by side \
                with the Pillow and simplejpeg references, pinned to one core.
                """
        )

        enum Mode: String, ExpressibleByArgument, CaseIterable { case train, eval }

        @Option(help: "A folder searched recursively for images.")
        var root: String

        @Option(help: "The square side the model sees.")
        var imageSize = 224

        @Option(help: "train (random resized crop + flip) or eval (resize + centre crop).")
        var mode: Mode = .train

        @Option(help: "Decoding threads.")
        var workers = 1

        @Option(help: "At most this many files.")
        var limit = 500

        @Option(help: "Timed passes over the files (the median is reported).")
        var rounds = 3

        @Flag(help: "Print one JSON line.")
        var json = false

        func validate() throws {
            guard (8...1024).contains(imageSize) else { throw ValidationError("--image-size must be in [8, 1024] (got \(imageSize)).") }
            guard (1...64).contains(workers) else { throw ValidationError("--workers must be in [1, 64] (got \(workers)).") }
            guard (1...1_000_000).contains(limit) else { throw ValidationError("--limit must be in [1, 1000000] (got \(limit)).") }
            guard (1...100).contains(rounds) else { throw ValidationError("--rounds must be in [1, 100] (got \(rounds)).") }
            guard ImageFolderListing.isFolder(root) else { throw ValidationError("--root \(root) is not a folder; give a folder of .jpg/.png images.") }
        }

        func run() throws {
            let all = try ImageFolderListing.images(under: root)
            guard all.count > 0 else { throw ValidationError("--root \(root) holds no .jpg, .jpeg or .png file.") }
            let count = min(limit, all.count)
            let files = ImageFileList(paths: all, labels: [Int32](repeating: 0, count: all.count), classNames: ["images"])
                .subset(Array(0..<count))
            var settings = ImageFolderPipeline.Settings(imageSize: imageSize)
            settings.workers = workers
            let assembler = ImageFolderPipeline.assembler(files, settings: settings, isTraining: mode == .train, seed: 0,
                                                          onBadImage: .error)
            // Batches of 32 through the assembler, as the loader hands them out.
            let batch = 32
            var images = [Float](repeating: 0, count: batch * imageSize * imageSize * 3)
            var labels = [Int32](repeating: 0, count: batch)
            var rates = [Double]()
            for _ in 0..<rounds {
                let start = DispatchTime.now().uptimeNanoseconds
                for (step, first) in stride(from: 0, to: count, by: batch).enumerated() {
                    let indices = Array(first..<min(count, first + batch))
                    let report = indices.withUnsafeBufferPointer { indexBuffer in
                        images.withUnsafeMutableBufferPointer { imageBuffer in
                            labels.withUnsafeMutableBufferPointer { labelBuffer in
                                assembler.assemble(indices: indexBuffer, epoch: 0, step: step, rank: 0, images: imageBuffer, labels: labelBuffer)
                            }
                        }
                    }
                    if let failure = report.failure { throw ValidationError("cannot decode \(failure)") }
                }
                rates.append(Double(count) / (Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9))
            }
            let rate = median(rates)
            let cpu = CPUDescription.current
            if json {
                print(#"{"decoder":"multimix","mode":"\#(mode.rawValue)","size":\#(imageSize),"images":\#(count),"workers":\#(workers),"#
                    + #""images_per_second":\#(String(format: "%.1f", rate)),"images_per_second_per_core":\#(String(format: "%.1f", rate / Double(workers))),"#
                    + #""cpu":"\#(cpu.model)","vector_extensions":"\#(cpu.vectorExtensions)"}"#)
            } else {
                print("\(count) images from \(root), \(mode.rawValue) transform to \(imageSize)px, \(workers) worker\(workers == 1 ? "" : "s"); CPU \(cpu)")
                print(String(format: "%.1f images/s (median of %d rounds), %.1f per core", rate, rounds, rate / Double(workers)))
            }
        }
    }
}
