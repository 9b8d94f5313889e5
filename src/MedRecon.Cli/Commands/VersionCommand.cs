using System.CommandLine;

namespace MedRecon.Cli.Commands;

public static class VersionCommand
{
    public static Command Create()
    {
        var cmd = new Command("info", "Print MedRecon's version, TorchSharp version and thread count.");
        cmd.SetAction(_ =>
        {
            Console.WriteLine($"MedRecon {typeof(VersionCommand).Assembly.GetName().Version}");
            Console.WriteLine($"TorchSharp threads: {TorchSharp.torch.get_num_threads()}");
            return 0;
        });
        return cmd;
    }
}
