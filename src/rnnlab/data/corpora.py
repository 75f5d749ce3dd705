"""Registry of the public corpora: each file's URL and sha256."""

from __future__ import annotations

from dataclasses import dataclass, field

RAW = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Corpus:
    name: str
    base_url: str
    files: dict[str, str]  # file name -> sha256
    licence: str
    elsewhere: dict[str, str] = field(default_factory=dict)  # file name -> URL not under base_url

    def url(self, file: str) -> str:
        """Public URL of one of the corpus's files."""
        return self.elsewhere.get(file, f"{self.base_url}/{file}")


_NAMES_SHA = {
    "Arabic": "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc",
    "Chinese": "09ba8f1f7e38dbc99372d461b26ad4433b811fc6bfa6a3ecca6fe11a9a777465",
    "Czech": "e17ab0ec47616a72c39cb85c783f70c3663ab64488721e5d8378f146d2226be7",
    "Dutch": "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3",
    "English": "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2",
    "French": "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95",
    "German": "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db",
    "Greek": "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6",
    "Irish": "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058",
    "Italian": "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4",
    "Japanese": "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f",
    "Korean": "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136",
    "Polish": "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826",
    "Portuguese": "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53",
    "Russian": "0cfe53ac18041e8f63666aa77313e0a3ff378facb132abee052d8ebdc8c3d62c",
    "Scottish": "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd",
    "Spanish": "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7",
    "Vietnamese": "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d",
}

CORPORA: dict[str, Corpus] = {
    c.name: c
    for c in [
        Corpus(
            "rusentiment",
            f"{RAW}/strawberrypie/rusentiment/7f2afa11a9483f5251cd5156ac848d098b502be0/Dataset",
            {
                "rusentiment_random_posts.csv": "bfa850dd0548aaea682bcfa3f1106763c4ed1ed8f5341cec75fed61fda8ff2f3",
                "rusentiment_preselected_posts.csv": "f25f1a73dcb7be5d932cb65b931cf5ed2576c1c983df5fc98c1596ea48d28d88",
                "rusentiment_test.csv": "35964a82c1ecf360e6d4a9fe31cf8532225213cf610ba13bb7eacb081446dc10",
                "LICENSE.md": "8386f4aded6116293b4a2daf378638abe4ed49406c696c12d4e8c19310aec46e",
            },
            "CC BY-NC-SA 4.0 (non-commercial; Rogers et al., COLING 2018)",
            {"LICENSE.md": f"{RAW}/strawberrypie/rusentiment/7f2afa11a9483f5251cd5156ac848d098b502be0/LICENSE.md"},
        ),
        Corpus(
            "opensentimentcorpus",
            f"{RAW}/yarfruct/open-sentiment-corpus/316733d895f4565be28cae755513b1c6e735a7b3",
            {
                "opensentimentcorpus-final-by-majority.csv": "bd686d3e92fa5e682873044d9efae187c8e1fc164c2b93e08bbdf842b8b89f58",
                "README.md": "64c0837d959f9b0f9092a3a47b3b8efb9d55799f73cac046b008e6d1113ae299",
            },
            "CC BY-SA 3.0 (derived from OpenCorpora)",
        ),
        Corpus(
            "nltk_stopwords",
            f"{RAW}/nltk/nltk_data/5db857e6f7df11eabb5e5665836db9ec8df07e28/packages/corpora",
            {"stopwords.zip": "15c94179887425ca1bedc265608cab9f27d650211f709bb929e320990a4b01d1"},
            "NLTK data (Apache-2.0)",
        ),
        Corpus(
            "names",
            f"{RAW}/spro/practical-pytorch/c520c52e68e945d88fff563dba1c028b6ec0197b/data/names",
            {f"{lang}.txt": sha for lang, sha in _NAMES_SHA.items()},
            "MIT",
        ),
        Corpus(
            "tinyshakespeare",
            f"{RAW}/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare",
            {"input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"},
            "public domain",
        ),
        Corpus(
            "alice",
            f"{RAW}/gutenbergbooks/11/5e5120e12a58a10254e0e6a42661d887e61c2aac",
            {"11-0.txt": "f17aa0bf7466424a8b357b688678666bad7a0148963ef349016a3098faa6bd1e"},
            "public domain (Project Gutenberg)",
        ),
        Corpus(
            "war_and_peace",
            f"{RAW}/maxsavitsky/war-and-peace-text-analyzer/8e4fe598f6dd7d78dbfa6f89269f46bd7fa4bc00",
            {"war_and_peace.txt": "62bf647288595b4b4859c6f8d88c2cc8d61fffae3cf007f228c401684f66419c"},
            "public domain",
        ),
        Corpus(
            "onegin",
            f"{RAW}/osdrv/onegin-gpt/75084c5d6bcfdaace69452aade1d78cc7acedecf/data",
            {"onegin.txt": "c9e458d35fecf777328fd8903ddb03685bee134c10774151642bf4567ac69576"},
            "public domain",
        ),
        Corpus(
            "anekdot_dialogues",
            f"{RAW}/Koziev/NLP_Datasets/85d7cbdf41d8b62bbd385aaab2920bc9c4b4f63f/Conversations/Data",
            {
                "extract_dialogues_from_anekdots.tar.xz": "6733d10a40740696ae493d29d2494e7b884e736874fee3c6e3c8c4c467c1b22b",
                "LICENSE": "a2010f343487d3f7618affe54f789f5487602331c0a8d03f49e9a7c547cf0499",
            },
            "CC0 1.0",
            {"LICENSE": f"{RAW}/Koziev/NLP_Datasets/85d7cbdf41d8b62bbd385aaab2920bc9c4b4f63f/LICENSE"},
        ),
        Corpus(
            "inappropriate_messages",  # offensive content by design: text for a language model only
            f"{RAW}/s-nlp/inappropriate-sensitive-topics/c298b0ef3277ad4112e8af79b3f600821824ee68/Version1/appropriateness",
            {
                "test.csv": "5c0b099e2b857e469a5078e624fba00c93d9d29a2b73925d2008aca0fb4d02c9",
                "val.csv": "070ad20418e66b1e09c8eeca21e23700d6b4f559065f6889ca797b036fdb5139",
                "Sensitive_topics_crowdsource_only.csv": "2628844d44b0b4309346e9fbaafc357a7636138975ae8e660200fcaa77210e21",
                "LICENSE.txt": "e66c269d4819aaab34b49ef5220c4ddab6756f21bb5180761a4eb8561f2b7bbd",
            },
            "CC BY-NC-SA 4.0 (non-commercial; Babakov et al., 2021)",
            {
                "Sensitive_topics_crowdsource_only.csv": f"{RAW}/s-nlp/inappropriate-sensitive-topics/"
                "c298b0ef3277ad4112e8af79b3f600821824ee68/Version1/sensitive_topics/Sensitive_topics_crowdsource_only.csv",
                "LICENSE.txt": f"{RAW}/s-nlp/inappropriate-sensitive-topics/c298b0ef3277ad4112e8af79b3f600821824ee68/LICENSE.txt",
            },
        ),
        Corpus(
            "imdb",
            "https://ai.stanford.edu/~amaas/data/sentiment",  # converted CSVs exist on mirrors only
            {
                "imdb_train.csv.gz": "93e937ca1032f1c4a21a3a3bf15103aff4df0cf5f44105d6e8dd17bcc617f19d",
                "imdb_test.csv.gz": "c9a3274d3ed43ef970f2bc30be9003d5c3b329352e071f99760e5ce3b6a50844",
            },
            "cite Maas et al., ACL 2011",
        ),
        Corpus(
            "ud_taiga",  # Universal Dependencies 2.7: UPOS tags and lemmas, half social media
            f"{RAW}/UniversalDependencies/UD_Russian-Taiga/445b06171246417ae52da5b989d6ee619c112177",
            {
                "ru_taiga-ud-train.conllu": "414ac026e383bf95b49c7b5c31f74b2919684fa4a2052676ad51edca6510d210",
                "ru_taiga-ud-dev.conllu": "2f08ba15c1f3f75378d760bf25c60da2b8b1e65cf1d3be48c81cb5dd59a4af5b",
                "ru_taiga-ud-test.conllu": "a529924cf317d8e9a681cd5ee423405b320b365bf01a9365143b30da50c245d0",
                "LICENSE.txt": "899b1804a12ebc090b96339614eede1b64b686721b650a71430b55b5235f7f79",
                "README.md": "528be4e5fce465139ed85bfbcc5b0300ca1d7c25bbcb451c4e1e2f6a382875d0",
            },
            "CC BY-SA 4.0",
        ),
    ]
}

# the studies' corpora, registered beside config.py's sections: the pretraining study's, the tagger study's


def get_corpus(name: str) -> Corpus:
    """Look up a corpus by name, with a clear error for unknown names."""
    if name not in CORPORA:
        raise KeyError(f"unknown corpus '{name}' (known: {', '.join(sorted(CORPORA))})")
    return CORPORA[name]
