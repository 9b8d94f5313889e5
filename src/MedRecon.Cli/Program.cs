using System.CommandLine;
using MedRecon.Cli.Commands;
using MedRecon.Core;

namespace MedRecon.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        TorchSetup.Initialize();
        return BuildRoot().Parse(args).Invoke();
    }

    /// <summary>The whole command tree; each command lives in its own file under Commands/.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("MedRecon: MRI and CT reconstruction from incomplete measurements, " +
                                   "with classical solvers and a consistency-model prior.");
        foreach (var command in new[]
                 {
                     // one line per command
                     VersionCommand.Create(),
                     PhantomCommand.Create(),
                     SimulateCommand.Create(SimulateCtCommand.Create()),
                     ReconCommand.Create(ReconCtCommand.Create()),
                     MetricsCommand.Create(),
                     DemoCommand.Create(),
                     RunCommand.Create(),
                     BenchCommand.Create(),
                     TrainCommand.Create(),
                     DicomCommand.Create(),
                     EchoCommand.Create(),
                     SendCommand.Create(),
                     ValidateCommand.Create(),
                 })
            root.Subcommands.Add(command);
        return root;
    }
}
