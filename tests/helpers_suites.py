"""Shared data for the suite tests: held-out prompts for the count parser with hand-written answers.

HELD_OUT was written for this project before the parser was first measured on it (P 0.966 / R 0.950
then); it was used afterwards to fix generic errors, so it is a development set now. HELD_OUT_2 was
written after that tuning and measured once (P 0.966 / R 0.966; one generic miss, compound irregular
plurals such as "grandchildren", was fixed after). Convention (that of longbench-v1's annotations): "a
single / lone / solitary X" names X without a count; three answers were changed to it after
longbench-v1 appeared. Each entry: (prompt, {(head noun, count), ...}) listing every entity whose number the
prompt states; nouns are singular.
"""

from __future__ import annotations

HELD_OUT: list[tuple[str, set[tuple[str, int]]]] = [
    (("A quiet attic lit by a round window. Four cardboard boxes are stacked against the far wall, and "
     "two dusty rocking horses stand beside them."), {("box", 4), ("horse", 2)}),
    (("On the kitchen counter there are three ceramic bowls filled with lemons, a wooden cutting board and "
     "a knife. Steam rises from a pot on the stove."), {("bowl", 3)}),
    (("A fox trots through fresh snow at 7 am, leaving a trail of prints behind it. Pine trees line the "
     "edge of the clearing."), set()),
    (("Five hot-air balloons drift over a valley at sunrise. The largest balloon is striped orange and "
     "white; the smallest one is plain blue."), {("balloon", 5)}),
    ("A 6-year-old boy in a yellow raincoat jumps into a puddle while his dog watches from the porch.",
     set()),
    ("Seven candles burn on a birthday cake shaped like a castle, with two sugar flags on its towers.",
     {("candle", 7), ("flag", 2)}),
    (("A bookshelf ten feet tall covers the whole wall of the study. Twelve leather-bound volumes sit on "
     "the top shelf."), {("volume", 12)}),
    (("A pair of red sneakers hangs by its laces from a power line above a narrow street. Several pigeons "
     "sit on the same wire."), {("sneaker", 2)}),
    ("In 1969 the old harbor was busier; now only three fishing boats remain, tied to a weathered pier.",
     {("boat", 3)}),
    (("One of the two lamps on the desk is switched on, casting a warm circle of light over a stack of "
     "letters."), {("lamp", 2)}),
    ("A dozen eggs sit in a blue carton next to a whisk and a bag of flour on a marble countertop.",
     {("egg", 12)}),
    ("Two cats, one black and one white, curl up together on a knitted blanket in front of a fireplace.",
     {("cat", 2)}),
    (("The poster in the shop window reads \"3 FOR 2 ON ALL BOOKS\" in bold red letters. A bicycle leans "
     "against the glass."), set()),
    ("Eight children sit in a circle on the grass, passing a ball while a teacher watches from a bench.",
     {("child", 8)}),
    (("A couple of swans glide across the lake, their reflections trembling on the dark water. Behind "
     "them, six weeping willows bend toward the shore."), {("swan", 2), ("willow", 6)}),
    ("A train departs at 9:45 from platform 4. Travellers hurry past a clock and a flower stall.",
     set()),
    (("Nine paper lanterns hang from a wooden beam above the courtyard of the tea house, each painted with "
     "a different bird."), {("lantern", 9)}),
    (("A chessboard in mid-game: the white queen has captured two black knights, which lie beside the "
     "board next to three pawns."), {("knight", 2), ("pawn", 3)}),
    (("A lighthouse stands on a rocky cape. At one point in the evening the beam sweeps across a sailboat "
     "with two white sails."), {("sail", 2)}),
    ("Four musicians play on a small stage: a drummer, a bassist and two guitarists in matching suits.",
     {("musician", 4), ("guitarist", 2)}),
    ("A mug of cocoa with 5 marshmallows floating on top rests on a windowsill, snow falling outside.",
     {("marshmallow", 5)}),
    (("The vase holds a bouquet of roses and tulips. Beside it lie two pairs of reading glasses and a "
     "paperback novel."), {("pair", 2)}),
    ("A mountain trail 3 km long winds up to a stone hut with two chimneys and a red door.",
     {("chimney", 2)}),
    (("Three elderly men play dominoes at a folding table in the park, while a fourth man watches with "
     "his hands behind his back."), {("man", 3)}),
    (("A solitary tree stands in a golden wheat field under a stormy sky, lightning flashing in the "
     "distance."), set()),
    ("Six ducklings follow their mother across a cobbled lane as two cyclists wait patiently.",
     {("duckling", 6), ("cyclist", 2)}),
    (("A vintage typewriter with a sheet of paper reading 'Chapter 1' sits on an oak desk beside a "
     "brass lamp."), set()),
    (("Around the campfire, five friends roast marshmallows on long sticks, and one of them plays a "
     "guitar."), {("friend", 5)}),
    (("A market stall displays ten baskets of apples, four crates of oranges and a chalkboard with "
     "prices."), {("basket", 10), ("crate", 4)}),
    ("A girl holds a balloon in one hand and an ice cream cone in the other, standing beside a carousel.",
     set()),
    ("The aquarium contains eleven neon tetras, two angelfish and a small treasure chest on the sand.",
     {("tetra", 11), ("angelfish", 2)}),
    ("Twin lighthouses guard the entrance of the bay, their lamps blinking in the fog.",
     {("lighthouse", 2)}),
    (("A wedding table set for eight, with eight crystal glasses, eight folded napkins and a tall "
     "centerpiece of white lilies."), {("glass", 8), ("napkin", 8)}),
    ("A robot with three arms assembles a clock on a workbench cluttered with gears and springs.",
     {("arm", 3)}),
    (("The temperature reads 25 degrees on a thermometer nailed to the fence of a sunny vegetable "
     "garden."), set()),
    (("A family portrait: two parents seated on a velvet sofa, three children standing behind them and "
     "a sleepy dog at their feet."), {("parent", 2), ("child", 3)}),
    (("Four identical red doors line a narrow hallway; the second door from the left is slightly "
     "open."), {("door", 4)}),
    ("A street musician plays the violin while several passersby drop coins into an open case.", set()),
    ("Half a dozen cupcakes with pink frosting are arranged on a tiered stand in a bakery window.",
     {("cupcake", 6)}),
    (("A knight in silver armor rides a horse across a drawbridge, followed by two squires carrying "
     "banners."), {("squire", 2)}),
    (("A cozy reading nook with a window seat, three striped cushions and a stack of 4 books on the "
     "floor."), {("cushion", 3), ("book", 4)}),
    ("The clock tower shows a quarter past five. Below it, a crowd gathers around a fountain.", set()),
    (("A sushi platter with nine pieces of salmon nigiri, six tuna rolls and a small dish of soy "
     "sauce."), {("piece", 9), ("roll", 6)}),
    (("Two hikers in orange jackets rest on a boulder, looking at a waterfall that drops about 50 meters "
     "into a green pool."), {("hiker", 2)}),
    (("A classroom with twenty wooden desks arranged in rows, a globe on the teacher's table and a "
     "blackboard covered in equations."), {("desk", 20)}),
    ("On the mantelpiece, one porcelain figurine dances while another figurine plays a tiny flute.",
     {("figurine", 2)}),
    ("A sailor with a tattoo of an anchor coils a rope on the deck of a ship built in 1887.", set()),
    ("Three golden retrievers chase a frisbee across a beach as the tide comes in.",
     {("retriever", 3)}),
    ("A desk calendar shows March 14. Next to it are two pencils, a stapler and a cup of tea.",
     {("pencil", 2)}),
    ("Two or three crows perch on the scarecrow's outstretched arms in a field of pumpkins.", set()),
    (("A bride and groom stand under an arch of white roses while seven bridesmaids in lilac dresses "
     "line the aisle."), {("bridesmaid", 7)}),
    (("A still life: a pewter jug, four pears and a loaf of bread on a linen cloth, painted in the Dutch "
     "style."), {("pear", 4)}),
    ("An astronaut floats outside a space station, tethered by a cable, with the Earth 400 km below.",
     set()),
    ("A toy shop window full of teddy bears; in the front row, three small bears wear knitted scarves.",
     {("bear", 3)}),
    ("The garden has two benches, a birdbath and more than twenty rose bushes in bloom.",
     {("bench", 2)}),
    ("A dragon with two heads guards a pile of gold coins in a cavern lit by glowing crystals.",
     {("head", 2)}),
    ("A painter's palette with six blobs of paint, two brushes and a rag lies on a stool.",
     {("blob", 6), ("brush", 2)}),
    ("At the airport gate, a pilot checks his watch; the departure board lists flight 226 to Lisbon.",
     set()),
    ("A row of 5 colorful beach huts faces the sea, each with a small porch and a striped awning.",
     {("hut", 5)}),
    ("A mother deer and two fawns drink from a stream at dawn, mist hanging over the water.",
     {("fawn", 2)}),
]

# Written after the parser was tuned on HELD_OUT and on the DPG-Bench prompts, measured once, not tuned on.
HELD_OUT_2: list[tuple[str, set[tuple[str, int]]]] = [
    (("A narrow canal in the evening: three gondolas are moored beside a bakery, whose window displays "
     "rows of croissants, and two gondoliers chat under a lamp."), {("gondola", 3), ("gondolier", 2)}),
    (("An old map spread on a table is held flat by four smooth river stones, with a compass and a "
     "magnifying glass resting on its northern edge."), {("stone", 4)}),
    (("A greenhouse full of orchids, humid air fogging the glass; a gardener in rubber boots waters "
     "the plants at 6 o'clock in the morning."), set()),
    (("Nine origami cranes hang on strings above a child's bed, turning slowly in a draft from the "
     "open window."), {("crane", 9)}),
    (("A 1950s diner at night, its neon sign buzzing, with two waitresses in pink uniforms carrying "
     "plates of pancakes to a booth."), {("waitress", 2)}),
    (("A shelf of spices: fourteen glass jars with hand-written labels, one of them tipped over and "
     "spilling paprika."), {("jar", 14)}),
    ("A lone astronaut plants a flag on a grey dune while the Earth hangs low in a black sky.",
     set()),
    (("The violinist, perhaps 30 years old, plays on a street corner; a hat at her feet holds a few "
     "coins and a single red rose."), set()),
    (("Five brightly painted fishing boats are pulled up on the pebble beach, nets drying between "
     "them, and a cat sleeps in the nearest one."), {("boat", 5)}),
    (("A snowman with a carrot nose and three coal buttons stands in a front yard, wearing a scarf "
     "knitted by the two children who built it."), {("button", 3), ("child", 2)}),
    (("The museum hall displays the skeleton of a whale, 25 metres long, suspended from the ceiling "
     "by steel cables."), set()),
    (("Eight rowers pull in perfect unison as their long boat slices through the morning mist on "
     "the river."), {("rower", 8)}),
    (("A breakfast tray with a pot of tea, two boiled eggs in blue egg cups, a rack of toast and a "
     "small vase with one daisy."), {("egg", 2)}),
    ("A pair of owls watches from a hollow in an oak tree as a fox crosses the moonlit meadow below.",
     {("owl", 2)}),
    (("The city skyline at dusk, with dozens of lit windows, three cranes on a construction site and "
     "a helicopter crossing the orange sky."), {("crane", 3)}),
    ("On stage, four dancers in red dresses spin together, while a fifth dancer waits in the wings.",
     {("dancer", 4)}),
    (("A toddler stacks 6 wooden blocks into a wobbly tower on the living room rug, a puppy watching "
     "curiously."), {("block", 6)}),
    (("In the cellar, wine barrels line both walls, and twelve dusty bottles rest in a rack by the "
     "stairs."), {("bottle", 12)}),
    (("A roadside fruit stand with a hand-painted sign reading 'FRESH PEACHES 2 LBS $5' and baskets "
     "overflowing with peaches."), set()),
    ("Two hummingbirds hover near a feeder shaped like a red flower, their wings a blur.",
     {("hummingbird", 2)}),
    ("A teenager practices skateboard tricks in an empty pool, graffiti covering every wall.",
     set()),
    (("Three generations share a meal: a grandmother, two parents and four grandchildren around a "
     "long wooden table."), {("parent", 2), ("grandchild", 4)}),
    (("A samurai stands in a bamboo forest, one hand on the hilt of his sword, as leaves fall around "
     "him."), set()),
    ("Seven bright kites fly above the dunes on a windy afternoon, their tails twisting in the air.",
     {("kite", 7)}),
    (("A watchmaker's bench: tweezers, a loupe, a dozen tiny screws in a dish and an open pocket "
     "watch."), {("screw", 12)}),
    (("One sailboat is anchored near the cliffs while another sailboat heads out to sea under full "
     "canvas."), {("sailboat", 2)}),
    (("A library reading room with long tables, green lamps, and about forty students bent over "
     "their books."), set()),
    (("Two firefighters hold a hose as water arcs onto a burning barn; three horses run loose in "
     "the paddock."), {("firefighter", 2), ("horse", 3)}),
    (("A birthday card on a kitchen table reads 'Happy 7th Birthday', next to a cake with seven "
     "candles and five party hats."), {("candle", 7), ("hat", 5)}),
    ("A row of eleven mailboxes outside an apartment building, one of them painted bright yellow.",
     {("mailbox", 11)}),
]
