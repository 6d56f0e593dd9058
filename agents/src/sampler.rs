//! The Sampler actor: draws candidate architectures from the configured
//! space on demand.
//!
//! Takes: [`Draw`]. Replies: [`Candidates`]. A share of each draw
//! (`mutation_share`) mutates the best architectures the coordinator
//! passes along; the rest are fresh samples. It never draws unasked, so
//! the coordinator's demand bounds the flow.

use actix::{Actor, Context, Handler};
use model::space::Space;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use runtime::metrics as m;

use crate::messages::{Candidates, Draw};

pub struct Sampler {
    space: Space,
    mutation_share: f64,
    rng: ChaCha8Rng,
}

impl Sampler {
    pub fn new(space: Space, mutation_share: f64, seed: u64) -> Sampler {
        Sampler {
            space,
            mutation_share,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

impl Actor for Sampler {
    type Context = Context<Self>;
}

impl Handler<Draw> for Sampler {
    type Result = Candidates;

    fn handle(&mut self, msg: Draw, _: &mut Context<Self>) -> Candidates {
        metrics::counter!(m::MESSAGES, "actor" => "sampler").increment(1);
        let mut out = Vec::with_capacity(msg.count);
        for _ in 0..msg.count {
            let mutate = !msg.best.is_empty() && self.rng.random_bool(self.mutation_share);
            let arch = if mutate {
                let parent = &msg.best[self.rng.random_range(0..msg.best.len())];
                self.space.mutate(parent, &mut self.rng)
            } else {
                self.space.sample(&mut self.rng)
            };
            out.push(arch);
        }
        metrics::counter!(m::CANDIDATES_SAMPLED).increment(out.len() as u64);
        Candidates(out)
    }
}
