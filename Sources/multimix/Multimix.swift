import ArgumentParser

/// `multimix`: the command-line tool. One file per subcommand.
@main
struct Multimix: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multimix",
        abstract: "Data-parallel MultiMix training over MPI.",
        subcommands: [Train.self, Study.self, Evaluate.self, Bench.self, DataCommand.self]
    )
}
