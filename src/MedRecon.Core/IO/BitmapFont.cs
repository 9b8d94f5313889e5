namespace MedRecon.Core.IO;

/// <summary>
/// A tiny built-in 5×7 bitmap font for PNG captions, so previews render the same on machines without fonts or
/// fontconfig. Upper case letters, digits and common punctuation; lower case is drawn as upper case and any other
/// character as '?'.
/// </summary>
internal static class BitmapFont
{
    public const int GlyphWidth = 5, GlyphHeight = 7, Advance = 6;

    // Each glyph: 7 rows of 5 bits, most significant (leftmost) pixel first.
    static readonly Dictionary<char, string> Source = new()
    {
        ['A'] = "01110 10001 10001 11111 10001 10001 10001",
        ['B'] = "11110 10001 10001 11110 10001 10001 11110",
        ['C'] = "01110 10001 10000 10000 10000 10001 01110",
        ['D'] = "11110 10001 10001 10001 10001 10001 11110",
        ['E'] = "11111 10000 10000 11110 10000 10000 11111",
        ['F'] = "11111 10000 10000 11110 10000 10000 10000",
        ['G'] = "01110 10001 10000 10111 10001 10001 01111",
        ['H'] = "10001 10001 10001 11111 10001 10001 10001",
        ['I'] = "01110 00100 00100 00100 00100 00100 01110",
        ['J'] = "00111 00010 00010 00010 00010 10010 01100",
        ['K'] = "10001 10010 10100 11000 10100 10010 10001",
        ['L'] = "10000 10000 10000 10000 10000 10000 11111",
        ['M'] = "10001 11011 10101 10101 10001 10001 10001",
        ['N'] = "10001 10001 11001 10101 10011 10001 10001",
        ['O'] = "01110 10001 10001 10001 10001 10001 01110",
        ['P'] = "11110 10001 10001 11110 10000 10000 10000",
        ['Q'] = "01110 10001 10001 10001 10101 10010 01101",
        ['R'] = "11110 10001 10001 11110 10100 10010 10001",
        ['S'] = "01111 10000 10000 01110 00001 00001 11110",
        ['T'] = "11111 00100 00100 00100 00100 00100 00100",
        ['U'] = "10001 10001 10001 10001 10001 10001 01110",
        ['V'] = "10001 10001 10001 10001 10001 01010 00100",
        ['W'] = "10001 10001 10001 10101 10101 10101 01010",
        ['X'] = "10001 10001 01010 00100 01010 10001 10001",
        ['Y'] = "10001 10001 01010 00100 00100 00100 00100",
        ['Z'] = "11111 00001 00010 00100 01000 10000 11111",
        ['0'] = "01110 10001 10011 10101 11001 10001 01110",
        ['1'] = "00100 01100 00100 00100 00100 00100 01110",
        ['2'] = "01110 10001 00001 00010 00100 01000 11111",
        ['3'] = "11111 00010 00100 00010 00001 10001 01110",
        ['4'] = "00010 00110 01010 10010 11111 00010 00010",
        ['5'] = "11111 10000 11110 00001 00001 10001 01110",
        ['6'] = "00110 01000 10000 11110 10001 10001 01110",
        ['7'] = "11111 00001 00010 00100 01000 01000 01000",
        ['8'] = "01110 10001 10001 01110 10001 10001 01110",
        ['9'] = "01110 10001 10001 01111 00001 00010 01100",
        [' '] = "00000 00000 00000 00000 00000 00000 00000",
        ['.'] = "00000 00000 00000 00000 00000 01100 01100",
        [','] = "00000 00000 00000 00000 01100 00100 01000",
        [':'] = "00000 01100 01100 00000 01100 01100 00000",
        [';'] = "00000 01100 01100 00000 01100 00100 01000",
        ['-'] = "00000 00000 00000 11111 00000 00000 00000",
        ['+'] = "00000 00100 00100 11111 00100 00100 00000",
        ['='] = "00000 00000 11111 00000 11111 00000 00000",
        ['_'] = "00000 00000 00000 00000 00000 00000 11111",
        ['/'] = "00000 00001 00010 00100 01000 10000 00000",
        ['('] = "00010 00100 01000 01000 01000 00100 00010",
        [')'] = "01000 00100 00010 00010 00010 00100 01000",
        ['['] = "01110 01000 01000 01000 01000 01000 01110",
        [']'] = "01110 00010 00010 00010 00010 00010 01110",
        ['%'] = "11000 11001 00010 00100 01000 10011 00011",
        ['#'] = "01010 01010 11111 01010 11111 01010 01010",
        ['\''] = "00100 00100 01000 00000 00000 00000 00000",
        ['"'] = "01010 01010 01010 00000 00000 00000 00000",
        ['!'] = "00100 00100 00100 00100 00100 00000 00100",
        ['?'] = "01110 10001 00001 00010 00100 00000 00100",
        ['<'] = "00010 00100 01000 10000 01000 00100 00010",
        ['>'] = "01000 00100 00010 00001 00010 00100 01000",
        ['*'] = "00000 00100 10101 01110 10101 00100 00000",
        ['|'] = "00100 00100 00100 00100 00100 00100 00100",
        ['×'] = "00000 10001 01010 00100 01010 10001 00000",
    };

    static readonly Dictionary<char, byte[]> Glyphs = Source.ToDictionary(kv => kv.Key, kv =>
        kv.Value.Split(' ').Select(r => Convert.ToByte(r, 2)).ToArray());

    static byte[] Glyph(char ch)
    {
        if (Glyphs.TryGetValue(ch, out var g)) return g;
        if (Glyphs.TryGetValue(char.ToUpperInvariant(ch), out g)) return g;
        return Glyphs['?'];
    }

    /// <summary>
    /// Draws <paramref name="text"/> in white (255) on a black (0) strip of the 8-bit canvas: the strip spans columns
    /// [x0, x0 + width) and rows [y0, y0 + height); the text is centred and cut to what fits.
    /// </summary>
    public static void Draw(byte[] canvas, int canvasWidth, int x0, int y0, int width, int height, string text, int scale)
    {
        for (int y = y0; y < y0 + height; y++) Array.Clear(canvas, y * canvasWidth + x0, width);
        int fit = Math.Max(0, (width - 2 * scale + scale) / (Advance * scale));
        if (text.Length > fit) text = text[..fit];
        int textWidth = text.Length * Advance * scale - (text.Length > 0 ? scale : 0);
        int left = x0 + Math.Max(0, (width - textWidth) / 2);
        int top = y0 + Math.Max(0, (height - GlyphHeight * scale) / 2);
        for (int i = 0; i < text.Length; i++)
        {
            var g = Glyph(text[i]);
            int gx = left + i * Advance * scale;
            for (int row = 0; row < GlyphHeight; row++)
            for (int col = 0; col < GlyphWidth; col++)
            {
                if ((g[row] >> (GlyphWidth - 1 - col) & 1) == 0) continue;
                for (int sy = 0; sy < scale; sy++)
                for (int sx = 0; sx < scale; sx++)
                {
                    int px = gx + col * scale + sx, py = top + row * scale + sy;
                    if (px < x0 + width && py < y0 + height) canvas[py * canvasWidth + px] = 255;
                }
            }
        }
    }
}
