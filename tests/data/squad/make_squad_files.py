#!/usr/bin/env python3
"""Hand-written test data in SQuAD format (v1.1 and v2.0).

These paragraphs and questions were written by hand for the tests and the
benchmark of this package; they are not copied from the official SQuAD data
set or from Wikipedia. Running this script (re)writes, deterministically:

    train-v1.1.json  dev-v1.1.json  train-v2.0.json  dev-v2.0.json

next to itself. Every answer's ``answer_start`` is computed with
``context.index(text)`` (or the k-th occurrence when an answer is given as a
``(text, k)`` pair) and checked, so that
``context[answer_start:answer_start + len(text)] == text`` holds in Python
code-point indexes. The v2.0 files contain the same answerable questions as
the v1.1 files plus 1-2 unanswerable questions per paragraph
(``"is_impossible": true, "answers": []``).

The dev paragraphs include one with accented Latin text (Dvořák), one with
CJK text (東京) whose answers are CJK, and one long paragraph (~400 words,
the Panama Canal) with answers near its start, middle and end.

Usage: python3 make_squad_files.py [OUTPUT_DIR]
"""

import json
import os
import sys
import unicodedata


def _p(text):
    """Collapse the whitespace of a triple-quoted literal into single spaces."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


# Each train question: (question, answer) where answer is "text" or
# ("text", k) for the k-th (0-based) occurrence of text in the context.
# Each dev question: (question, [answer, ...]) with 1-3 acceptable answers.
# "impossible": plausible questions whose answer is NOT in the context.

TRAIN = [
    {
        "id": "t01",
        "title": "Lake_Baikal",
        "context": _p("""
            Lake Baikal is a rift lake in southern Siberia, Russia, located
            between Irkutsk Oblast to the northwest and the Republic of
            Buryatia to the southeast. It is the deepest lake in the world,
            reaching a maximum depth of 1,642 metres, and it holds roughly 23
            percent of the planet's unfrozen fresh surface water. The lake is
            also considered the oldest on Earth, with an estimated age of 25 to
            30 million years. More than 300 rivers flow into Baikal, but only
            one, the Angara River, drains out of it. The basin is home to the
            Baikal seal, or nerpa, one of the few freshwater seal species. In
            1996 the lake was designated a UNESCO World Heritage Site.
        """),
        "qas": [
            ("Where is Lake Baikal located?", "southern Siberia"),
            ("What is the maximum depth of Lake Baikal?", "1,642 metres"),
            ("What share of the world's unfrozen fresh surface water does Baikal hold?",
             "roughly 23 percent"),
            ("Which river drains out of Lake Baikal?", "the Angara River"),
            ("How many rivers flow into Baikal?", "More than 300"),
            ("In what year did Lake Baikal become a UNESCO World Heritage Site?", "1996"),
        ],
        "impossible": [
            "What is the surface area of Lake Baikal?",
            "Which large river flows into Baikal from Mongolia?",
        ],
    },
    {
        "id": "t02",
        "title": "Printing_press",
        "context": _p("""
            Johannes Gutenberg, a goldsmith from the German city of Mainz,
            introduced movable-type printing to Europe around 1440. His press
            combined a hand mould for casting metal type, an oil-based ink, and
            a screw press adapted from those used to make wine. The most famous
            product of his workshop is the Gutenberg Bible, completed in about
            1455, of which roughly 180 copies were printed. Within fifty years,
            printing shops had spread to more than 270 European cities, and
            historians estimate that over twenty million volumes had been
            produced by 1500. The new technology lowered the cost of books,
            helped standardize languages, and accelerated the spread of ideas
            during the Renaissance and the Reformation.
        """),
        "qas": [
            ("Who introduced movable-type printing to Europe?", "Johannes Gutenberg"),
            ("What was Gutenberg's trade?", "goldsmith"),
            ("Which city did Gutenberg come from?", "Mainz"),
            ("When did Gutenberg introduce movable-type printing to Europe?", "around 1440"),
            ("How many copies of the Gutenberg Bible were printed?", "roughly 180"),
            ("To how many European cities had printing shops spread within fifty years?",
             "more than 270"),
        ],
        "impossible": [
            "How much did a copy of the Gutenberg Bible cost in 1455?",
            "Who lent Gutenberg the money to set up his workshop?",
        ],
    },
    {
        "id": "t03",
        "title": "Photosynthesis",
        "context": _p("""
            Photosynthesis is the process by which plants, algae and some
            bacteria convert light energy into chemical energy. In plants it
            takes place mainly in the chloroplasts of leaf cells, where the
            green pigment chlorophyll absorbs red and blue light most strongly.
            The overall reaction uses carbon dioxide and water to produce
            glucose, releasing oxygen as a by-product. The process has two
            stages: the light-dependent reactions, which occur in the thylakoid
            membranes, and the Calvin cycle, which fixes carbon in the stroma.
            The enzyme that captures carbon dioxide in the Calvin cycle, known
            as RuBisCO, is thought to be the most abundant protein on Earth.
        """),
        "qas": [
            ("Where does photosynthesis mainly take place in plants?",
             "the chloroplasts of leaf cells"),
            ("Which green pigment absorbs light in the chloroplasts?", "chlorophyll"),
            ("What gas is released as a by-product of photosynthesis?", "oxygen"),
            ("Where do the light-dependent reactions occur?", "the thylakoid membranes"),
            ("In which part of the chloroplast does the Calvin cycle fix carbon?", "the stroma"),
            ("What is the enzyme that captures carbon dioxide in the Calvin cycle called?",
             "RuBisCO"),
        ],
        "impossible": [
            "In what year was the Calvin cycle first described?",
            "How much glucose does a typical leaf produce per day?",
        ],
    },
    {
        "id": "t04",
        "title": "Tour_de_France",
        "context": _p("""
            The Tour de France is an annual men's multi-stage bicycle race held
            primarily in France. It was first organized in 1903 by the
            newspaper L'Auto to increase its sales, and the inaugural edition
            was won by Maurice Garin. The race usually lasts 23 days and covers
            around 3,500 kilometres, divided into 21 stages that include flat
            sprints, time trials and mountain climbs in the Alps and the
            Pyrenees. The overall leader wears the yellow jersey, introduced in
            1919, while the best sprinter wears green and the best climber wears
            a white jersey with red dots. Since 1975 the final stage has
            traditionally finished on the Champs-Élysées in Paris.
        """),
        "qas": [
            ("When was the Tour de France first organized?", "1903"),
            ("Which newspaper organized the first Tour de France?", "L'Auto"),
            ("Who won the first edition of the Tour de France?", "Maurice Garin"),
            ("How many stages is the race divided into?", "21"),
            ("In which mountain ranges do the climbs take place?", "the Alps and the Pyrenees"),
            ("Where has the final stage finished since 1975?", "the Champs-Élysées in Paris"),
        ],
        "impossible": [
            "Which rider has won the Tour de France the most times?",
            "How much prize money does the winner of the race receive?",
        ],
    },
    {
        "id": "t05",
        "title": "Symphony_No._9_(Beethoven)",
        "context": _p("""
            Ludwig van Beethoven completed his Symphony No. 9 in D minor in
            1824, when he was almost completely deaf. The work premiered in
            Vienna on 7 May 1824 at the Theater am Kärntnertor, with Beethoven
            sharing the stage with the conductor Michael Umlauf. It was the
            first example of a major composer using voices in a symphony: the
            final movement sets parts of Friedrich Schiller's poem "Ode to Joy"
            for four soloists and a chorus. A typical performance lasts about 70
            minutes. The melody of the final movement was later adopted as the
            anthem of the Council of Europe in 1972, and the autograph score is
            listed in UNESCO's Memory of the World register.
        """),
        "qas": [
            ("In what key is Beethoven's Ninth Symphony written?", "D minor"),
            ("On what date did the Ninth Symphony premiere?", "7 May 1824"),
            ("Which conductor shared the stage with Beethoven at the premiere?",
             "Michael Umlauf"),
            ("Whose poem is set in the final movement?", "Friedrich Schiller"),
            ("How long does a typical performance last?", "about 70 minutes"),
            ("When did the Council of Europe adopt the melody as its anthem?", "1972"),
        ],
        "impossible": [
            "How many people attended the premiere of the Ninth Symphony?",
            "Which publisher printed the first edition of the score?",
        ],
    },
    {
        "id": "t06",
        "title": "Chocolate",
        "context": _p("""
            Chocolate is made from the seeds of the cacao tree, Theobroma
            cacao, which is native to the tropical forests of Central and South
            America. The Olmec, Maya and Aztec peoples prepared a bitter drink
            from fermented and roasted cacao beans, and the Aztecs also used the
            beans as currency. Spanish explorers brought cacao to Europe in the
            sixteenth century, where sugar was added to suit local tastes. In
            1828 the Dutch chemist Coenraad van Houten patented a press that
            separated cocoa butter from cocoa solids, making solid chocolate
            bars possible. Today Côte d'Ivoire and Ghana together grow more
            than half of the world's cacao.
        """),
        "qas": [
            ("What is the scientific name of the cacao tree?", "Theobroma cacao"),
            ("Which people used cacao beans as currency?", "the Aztecs"),
            ("When did Spanish explorers bring cacao to Europe?", "the sixteenth century"),
            ("Who patented a press that separated cocoa butter from cocoa solids?",
             "Coenraad van Houten"),
            ("In what year was the cocoa press patented?", "1828"),
            ("Which two countries grow more than half of the world's cacao?",
             "Côte d'Ivoire and Ghana"),
        ],
        "impossible": [
            "Who invented milk chocolate?",
            "How many tonnes of cacao does Ghana harvest each year?",
        ],
    },
    {
        "id": "t07",
        "title": "Transistor",
        "context": _p("""
            The transistor, a semiconductor device used to amplify or switch
            electrical signals, was invented at Bell Laboratories in New
            Jersey. In December 1947 John Bardeen and Walter Brattain
            demonstrated the first working point-contact transistor, and their
            colleague William Shockley developed the junction transistor the
            following year. The three men shared the Nobel Prize in Physics in
            1956. Early transistors were made from germanium, but silicon
            became the dominant material in the 1960s because it tolerates
            higher temperatures. Modern processors contain billions of
            transistors, each only a few nanometres wide, etched onto a single
            chip.
        """),
        "qas": [
            ("Where was the transistor invented?", "Bell Laboratories"),
            ("When was the first working point-contact transistor demonstrated?",
             "December 1947"),
            ("Who developed the junction transistor?", "William Shockley"),
            ("In what year did the inventors share the Nobel Prize in Physics?", "1956"),
            ("What material were early transistors made from?", "germanium"),
            ("How many transistors do modern processors contain?", "billions"),
        ],
        "impossible": [
            "Which company sold the first transistor radio?",
            "How much did the first point-contact transistor cost to build?",
        ],
    },
    {
        "id": "t08",
        "title": "Amazon_River",
        "context": _p("""
            The Amazon River in South America is the largest river in the world
            by discharge volume, carrying about 209,000 cubic metres of water
            per second into the Atlantic Ocean. Its headwaters lie in the Andes
            of Peru, and the river flows eastward across Brazil for most of its
            length. Estimates of its total length range from 6,400 to 7,000
            kilometres, so scientists still debate whether it is longer than
            the Nile. The Amazon basin covers roughly seven million square
            kilometres and contains the largest tropical rainforest on Earth.
            No bridges cross the main river, partly because most of its banks
            are lightly populated and flood each year.
        """),
        "qas": [
            ("Into which ocean does the Amazon flow?", "the Atlantic Ocean"),
            ("Where are the headwaters of the Amazon?", "the Andes of Peru"),
            ("How much water does the Amazon carry per second?",
             "about 209,000 cubic metres"),
            ("Which country does the Amazon cross for most of its length?", "Brazil"),
            ("Which river may be longer than the Amazon?", "the Nile"),
            ("How large is the Amazon basin?", "roughly seven million square kilometres"),
        ],
        "impossible": [
            "Who was the first European to travel the whole length of the Amazon?",
            "What is the largest city on the banks of the Amazon?",
        ],
    },
    {
        "id": "t09",
        "title": "Apollo_11",
        "context": _p("""
            Apollo 11 was the American spaceflight that first landed humans on
            the Moon. Launched by a Saturn V rocket from Kennedy Space Center in
            Florida on 16 July 1969, it carried commander Neil Armstrong, lunar
            module pilot Buzz Aldrin and command module pilot Michael Collins.
            Armstrong and Aldrin landed the lunar module Eagle in the Sea of
            Tranquility on 20 July, while Collins remained in orbit aboard
            Columbia. The two astronauts spent about two and a quarter hours
            outside the spacecraft and collected 21.5 kilograms of lunar
            material. The crew splashed down in the Pacific Ocean on 24 July,
            completing a mission of just over eight days.
        """),
        "qas": [
            ("Which rocket launched Apollo 11?", "Saturn V"),
            ("Who was the commander of Apollo 11?", "Neil Armstrong"),
            ("What was the name of the lunar module?", "Eagle"),
            ("Where did the lunar module land?", "the Sea of Tranquility"),
            # deliberately the second occurrence of "Collins"
            ("Who remained in orbit aboard Columbia?", ("Collins", 1)),
            ("How much lunar material did the astronauts collect?", "21.5 kilograms"),
        ],
        "impossible": [
            "What did Armstrong say when he stepped onto the lunar surface?",
            "How much did the Apollo 11 mission cost?",
        ],
    },
    {
        "id": "t10",
        "title": "DNA",
        "context": _p("""
            Deoxyribonucleic acid, or DNA, is the molecule that carries genetic
            instructions in all known living organisms. Its structure was
            described in 1953 by James Watson and Francis Crick, who relied in
            part on X-ray diffraction images produced by Rosalind Franklin at
            King's College London. DNA consists of two strands that coil around
            each other to form a double helix. Each strand is built from units
            called nucleotides, which contain one of four bases: adenine,
            thymine, guanine or cytosine. Adenine pairs with thymine and guanine
            pairs with cytosine. The human genome contains about three billion
            base pairs, packaged into 23 pairs of chromosomes.
        """),
        "qas": [
            ("When was the structure of DNA described?", "1953"),
            ("Whose X-ray diffraction images did Watson and Crick rely on?",
             "Rosalind Franklin"),
            ("Where did Rosalind Franklin produce her images?", "King's College London"),
            ("What shape do the two strands of DNA form?", "a double helix"),
            ("Which base pairs with thymine?", "Adenine"),
            ("How many base pairs does the human genome contain?", "about three billion"),
        ],
        "impossible": [
            "Which base pairs with uracil?",
            "Who shared the Nobel Prize for the structure of DNA in 1962?",
        ],
    },
    {
        "id": "t11",
        "title": "1896_Summer_Olympics",
        "context": _p("""
            The first modern Olympic Games were held in Athens, Greece, in
            April 1896, organized by the International Olympic Committee
            founded two years earlier by the French educator Pierre de
            Coubertin. About 241 athletes from 14 nations, all of them men,
            competed in 43 events across nine sports, including athletics,
            cycling, fencing and swimming. The American James Connolly became
            the first modern Olympic champion by winning the triple jump. The
            most celebrated victory went to the Greek water carrier Spyridon
            Louis, who won the marathon, a race inspired by the legend of a
            messenger running from Marathon to Athens. Women first competed at
            the 1900 Games in Paris.
        """),
        "qas": [
            ("Where were the first modern Olympic Games held?", "Athens, Greece"),
            ("Who founded the International Olympic Committee?", "Pierre de Coubertin"),
            ("How many nations took part in the 1896 Games?", "14"),
            ("Who became the first modern Olympic champion?", "James Connolly"),
            ("Which race did Spyridon Louis win?", "the marathon"),
            ("In which city did women first compete at the Olympics?", "Paris"),
        ],
        "impossible": [
            "How many medals did Greece win at the 1896 Games?",
            "Who won the swimming events in 1896?",
        ],
    },
    {
        "id": "t12",
        "title": "World_Wide_Web",
        "context": _p("""
            The World Wide Web was invented by the British computer scientist
            Tim Berners-Lee while he was working at CERN, the European physics
            laboratory near Geneva. In March 1989 he wrote a proposal for an
            information management system based on hypertext, and by the end of
            1990 he had built the first web server and the first web browser,
            called WorldWideWeb, on a NeXT computer. The first website, which
            explained the project itself, went online in 1991. In April 1993
            CERN placed the web software in the public domain, which helped the
            web grow rapidly. Berners-Lee later founded the World Wide Web
            Consortium to develop open standards.
        """),
        "qas": [
            ("Who invented the World Wide Web?", "Tim Berners-Lee"),
            # "CERN" occurs twice; the first occurrence is the intended one
            ("Where was Berners-Lee working when he invented the web?", ("CERN", 0)),
            ("When did Berners-Lee write his proposal?", "March 1989"),
            ("What was the first web browser called?", "WorldWideWeb"),
            ("When did the first website go online?", "1991"),
            ("What organization did Berners-Lee later found?",
             "the World Wide Web Consortium"),
        ],
        "impossible": [
            "How many websites existed by the end of 1995?",
            "Which company released the Mosaic browser?",
        ],
    },
]

DEV = [
    {
        "id": "d01",
        "title": "Eiffel_Tower",
        "context": _p("""
            The Eiffel Tower is a wrought-iron lattice tower on the Champ de
            Mars in Paris. It was designed by the engineering company of
            Gustave Eiffel and built as the entrance arch for the 1889 World's
            Fair, which marked the centennial of the French Revolution.
            Construction took just over two years and used about 18,000 metal
            parts joined by 2.5 million rivets. At 300 metres, it was the
            tallest man-made structure in the world until the Chrysler Building
            in New York was completed in 1930. Although many artists criticized
            its design at first, the tower became a global symbol of France and
            now welcomes close to seven million visitors a year.
        """),
        "qas": [
            ("Where is the Eiffel Tower located?",
             ["the Champ de Mars in Paris", "Champ de Mars", "Paris"]),
            ("For which event was the Eiffel Tower built?",
             ["the 1889 World's Fair", "1889 World's Fair"]),
            ("How many rivets hold the tower's parts together?",
             ["2.5 million", "2.5 million rivets"]),
            ("Which building overtook the Eiffel Tower as the tallest man-made structure?",
             ["the Chrysler Building", "Chrysler Building",
              "the Chrysler Building in New York"]),
            ("How many people visit the tower each year?",
             ["close to seven million", "seven million"]),
        ],
        "impossible": [
            "How much did it cost to build the Eiffel Tower?",
            "Which architect designed the decorative arches at the base of the tower?",
        ],
    },
    {
        # accented Latin text; answers contain the accented words
        "id": "d02",
        "title": "Antonín_Dvořák",
        "context": _p("""
            Antonín Dvořák was born in 1841 in Nelahozeves, a village on the
            Vltava River north of Prague. After years of playing viola in the
            orchestra of the Provisional Theatre, he gained international
            recognition when Johannes Brahms helped him publish the Slavonic
            Dances in 1878. In 1892 Dvořák moved to the United States to direct
            the National Conservatory of Music in New York, where he wrote his
            Symphony No. 9, "From the New World". He returned to Bohemia in 1895
            and later composed the opera Rusalka, whose "Song to the Moon"
            remains a favourite aria. He died in Prague in 1904 and is buried at
            Vyšehrad Cemetery, close to Bedřich Smetana.
        """),
        "qas": [
            ("Which composer wrote the symphony \"From the New World\"?",
             ["Antonín Dvořák"]),
            ("Where was Dvořák born?",
             ["Nelahozeves", "in Nelahozeves",
              "Nelahozeves, a village on the Vltava River north of Prague"]),
            ("Who helped Dvořák publish the Slavonic Dances?",
             ["Johannes Brahms", "Brahms"]),
            ("Where is Dvořák buried?",
             ["Vyšehrad Cemetery", "at Vyšehrad Cemetery", "Vyšehrad"]),
            ("Which composer is buried close to Dvořák?",
             ["Bedřich Smetana", "Smetana"]),
        ],
        "impossible": [
            "How many symphonies did Dvořák compose in total?",
            "Who wrote the libretto of Rusalka?",
        ],
    },
    {
        # CJK text inside English sentences; some answers are CJK
        "id": "d03",
        "title": "Tokyo",
        "context": _p("""
            Tokyo, written 東京 in Japanese, means "eastern capital". The city
            was known as Edo (江戸) until 1868, when the Meiji government renamed
            it and the emperor moved there from Kyoto (京都). Today the Tokyo
            metropolitan area is the most populous in the world, with about 37
            million residents. Its busiest railway station, Shinjuku (新宿),
            handles more than three million passengers a day. The city hosted
            the Summer Olympics in 1964 and again in 2021, one year later than
            planned because of the COVID-19 pandemic. Tokyo Skytree, completed
            in 2012, is 634 metres tall.
        """),
        "qas": [
            ("How is the name Tokyo written in Japanese?", ["東京"]),
            ("What was Tokyo called before 1868?", ["Edo", "Edo (江戸)", "江戸"]),
            ("From which city did the emperor move to Tokyo?",
             ["Kyoto", "Kyoto (京都)", "京都"]),
            ("Which is Tokyo's busiest railway station?",
             ["Shinjuku", "Shinjuku (新宿)", "新宿"]),
            ("How tall is Tokyo Skytree?", ["634 metres", "634 metres tall"]),
        ],
        "impossible": [
            "What was the population of Edo in 1700?",
            "Who designed Tokyo Skytree?",
        ],
    },
    {
        "id": "d04",
        "title": "Coffee",
        "context": _p("""
            Coffee is brewed from the roasted seeds of the Coffea plant,
            commonly called coffee beans. According to a popular legend, an
            Ethiopian goat herder named Kaldi discovered the stimulating effect
            of the berries after noticing that his goats became energetic. The
            earliest reliable evidence of coffee drinking comes from Sufi
            monasteries in Yemen in the fifteenth century. The two most widely
            grown species are Arabica, which accounts for about 60 percent of
            world production, and Robusta, which contains roughly twice as much
            caffeine. Brazil has been the largest producer for more than 150
            years, followed by Vietnam.
        """),
        "qas": [
            ("According to legend, who discovered the effect of coffee berries?",
             ["Kaldi", "an Ethiopian goat herder named Kaldi"]),
            ("Where does the earliest reliable evidence of coffee drinking come from?",
             ["Sufi monasteries in Yemen", "Yemen"]),
            ("In which century is coffee drinking first reliably documented?",
             ["the fifteenth century", "fifteenth century", "fifteenth"]),
            ("What share of world coffee production is Arabica?",
             ["about 60 percent", "60 percent"]),
            ("Which coffee species contains more caffeine?", ["Robusta"]),
            ("Which country is the largest coffee producer?", ["Brazil"]),
        ],
        "impossible": [
            "Which country drinks the most coffee per person?",
            "In what year was the espresso machine invented?",
        ],
    },
    {
        # long paragraph (~400 words): answers near the start, middle and end
        "id": "d05",
        "title": "Panama_Canal",
        "context": _p("""
            The Panama Canal is an artificial waterway, about 82 kilometres
            long, that crosses the Isthmus of Panama and connects the Atlantic
            Ocean, by way of the Caribbean Sea, with the Pacific Ocean. The idea
            of a shortcut between the two oceans dates back to the early
            sixteenth century, when Spanish explorers first recognized how
            narrow the isthmus was. The first serious attempt to build a canal
            began in 1881 under the French diplomat Ferdinand de Lesseps, who
            had earlier led the construction of the Suez Canal. His plan called
            for a sea-level canal without locks, but the project was overwhelmed
            by landslides, heavy rainfall and tropical diseases such as malaria
            and yellow fever, which killed more than twenty thousand workers.
            The French company went bankrupt in 1889, and the effort was
            abandoned after a major financial scandal. In 1903, after Panama
            separated from Colombia with American support, the United States
            signed a treaty that gave it control of a strip of land known as
            the Canal Zone. Construction resumed in 1904, and this time the
            engineers chose a lock-based design. The chief engineer John Frank
            Stevens built the railway and housing needed for the workforce, and
            his successor, George Washington Goethals, oversaw the excavation of
            the Culebra Cut through the continental divide. Doctors led by
            William Gorgas reduced disease by draining swamps and controlling
            mosquitoes. A dam on the Chagres River created Gatun Lake, at the
            time the largest artificial lake in the world, which raises ships
            about 26 metres above sea level. The canal officially opened on 15
            August 1914, when the cargo ship SS Ancon made the first transit.
            For most of the twentieth century the canal was operated by the
            United States, but under the Torrijos–Carter Treaties signed in
            1977, control was gradually transferred, and Panama took full
            ownership on 31 December 1999. Traffic grew steadily, and by the
            early 2000s many modern ships were too large for the original
            locks. An expansion project added a third lane of larger locks,
            which opened in June 2016 and allows so-called Neopanamax vessels
            carrying up to about 14,000 containers to pass. Today roughly 14,000
            ships use the canal each year, and a typical transit takes between
            eight and ten hours. The canal depends on fresh water from Gatun
            Lake to operate its locks, so severe droughts, such as the one in
            2023, can force the authority to limit the number of daily
            crossings.
        """),
        "long": True,
        "qas": [
            ("How long is the Panama Canal?", ["about 82 kilometres", "82 kilometres"]),
            ("Who led the first serious attempt to build the canal?",
             ["Ferdinand de Lesseps", "the French diplomat Ferdinand de Lesseps"]),
            ("When did the French canal company go bankrupt?", ["1889", "in 1889"]),
            ("Who oversaw the excavation of the Culebra Cut?",
             ["George Washington Goethals", "Goethals"]),
            ("What was created by the dam on the Chagres River?",
             [("Gatun Lake", 0), "Gatun Lake, at the time the largest artificial lake in the world"]),
            ("When did Panama take full ownership of the canal?",
             ["31 December 1999", "on 31 December 1999"]),
            # "14,000" occurs twice; the ship count is the second occurrence
            ("How many ships use the canal each year?",
             [("14,000", 1), "roughly 14,000"]),
            ("How long does a typical transit of the canal take?",
             ["between eight and ten hours", "eight and ten hours"]),
        ],
        "impossible": [
            "How much does a ship pay in tolls to transit the canal?",
            "How many workers died during the American construction period?",
        ],
    },
]


def _find(context, spec, where):
    """Return (text, answer_start) for an answer spec "text" or ("text", k)."""
    if isinstance(spec, tuple):
        text, k = spec
    else:
        text, k = spec, None
    assert text == text.strip() and text, f"{where}: bad answer text {text!r}"
    starts = []
    i = context.find(text)
    while i != -1:
        starts.append(i)
        i = context.find(text, i + 1)
    assert starts, f"{where}: answer {text!r} not in context"
    if k is None:
        # plain answers must be unambiguous; use ("text", k) otherwise
        assert len(starts) == 1, f"{where}: {text!r} occurs {len(starts)} times"
        k = 0
    assert 0 <= k < len(starts), f"{where}: {text!r} has no occurrence {k}"
    start = starts[k]
    assert context[start:start + len(text)] == text
    # spans must sit on word boundaries (not cut inside a word)
    before = context[start - 1] if start > 0 else " "
    after = context[start + len(text)] if start + len(text) < len(context) else " "
    assert not before.isalnum() and not after.isalnum(), \
        f"{where}: {text!r} is not word-aligned"
    return text, start


def _build(paras, version, multi):
    v2 = version == "v2.0"
    data = []
    for para in paras:
        ctx = para["context"]
        nwords = len(ctx.split())
        lo, hi = (350, 450) if para.get("long") else (60, 160)
        assert lo <= nwords <= hi, f"{para['id']}: {nwords} words"
        qas = []
        for qi, (question, ans) in enumerate(para["qas"], 1):
            qid = f"{para['id']}q{qi}"
            specs = ans if multi else [ans]
            answers = []
            for spec in specs:
                text, start = _find(ctx, spec, qid)
                answers.append({"text": text, "answer_start": start})
            qa = {"id": qid, "question": question, "answers": answers}
            if v2:
                qa["is_impossible"] = False
            qas.append(qa)
        if v2:
            imp = [{"id": f"{para['id']}n{ni}", "question": q, "answers": [],
                    "is_impossible": True}
                   for ni, q in enumerate(para["impossible"], 1)]
            # deterministic interleaving: first after the 2nd answerable
            # question, the rest at the end of the paragraph
            qas = qas[:2] + imp[:1] + qas[2:] + imp[1:]
        data.append({"title": para["title"],
                     "paragraphs": [{"context": ctx, "qas": qas}]})
    return {"version": version, "data": data}


def validate(path):
    """Re-load a written file and check the SQuAD invariants; return counts."""
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    v2 = d["version"] == "v2.0"
    assert d["version"] in ("v1.1", "v2.0")
    ids, n_par, n_q, n_imp = set(), 0, 0, 0
    for art in d["data"]:
        assert isinstance(art["title"], str) and art["title"]
        for par in art["paragraphs"]:
            n_par += 1
            ctx = par["context"]
            assert isinstance(ctx, str) and ctx
            for qa in par["qas"]:
                n_q += 1
                assert qa["id"] not in ids, f"duplicate id {qa['id']}"
                ids.add(qa["id"])
                assert isinstance(qa["question"], str) and qa["question"].strip()
                if v2:
                    assert isinstance(qa["is_impossible"], bool)
                    imp = qa["is_impossible"]
                else:
                    assert "is_impossible" not in qa
                    imp = False
                if imp:
                    n_imp += 1
                    assert qa["answers"] == []
                else:
                    assert qa["answers"], f"{qa['id']}: no answers"
                    for a in qa["answers"]:
                        s, t = a["answer_start"], a["text"]
                        assert isinstance(s, int) and isinstance(t, str)
                        assert ctx[s:s + len(t)] == t, f"{qa['id']}: bad offset"
    return n_par, n_q, n_imp


def main(out_dir=None):
    out_dir = out_dir or os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out_dir, exist_ok=True)
    files = {
        "train-v1.1.json": _build(TRAIN, "v1.1", multi=False),
        "dev-v1.1.json": _build(DEV, "v1.1", multi=True),
        "train-v2.0.json": _build(TRAIN, "v2.0", multi=False),
        "dev-v2.0.json": _build(DEV, "v2.0", multi=True),
    }
    for name, obj in files.items():
        path = os.path.join(out_dir, name)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
            f.write("\n")
        n_par, n_q, n_imp = validate(path)
        print(f"{name}: {n_par} paragraphs, {n_q} questions, {n_imp} impossible")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
